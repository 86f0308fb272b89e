"""Using a trained model: sampling, reconstruction, embedding, anomaly detection, restoration."""
