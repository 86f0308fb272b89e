"""The page's API, one module per part of the page: runs, generate, explore, check."""
