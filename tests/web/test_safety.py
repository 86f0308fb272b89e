"""What the server refuses: names outside the root, other Host headers, missing tokens, oversized
or malformed uploads and bodies; each a 4xx with a message, and the server goes on serving."""

from __future__ import annotations

import base64
import io
import shutil

import pytest
import torch
from fastapi.testclient import TestClient

from vaekit.web.app import create_app


def _png(w: int, h: int, mode: str = "L", fmt: str = "PNG") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (w, h)).save(buf, format=fmt)
    return buf.getvalue()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "name", ["../mlp", "mlp/..", "/etc", "..", ".", "mlp/../conv", ".vaekit-web-cache", "mlp\\x", "nope", "", "a" * 600]
)
def test_run_names_resolve_only_to_runs_inside_the_root(client, name):
    r = client.get("/api/sample", params={"run": name})
    assert r.status_code == 404 and r.json()["detail"]
    assert client.get("/api/sample", params={"run": "mlp", "n": 1}).status_code == 200  # still serving


def test_a_symlink_out_of_the_root_is_neither_listed_nor_served(runs_root, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copytree(runs_root / "conv", root / "inside")
    outside = tmp_path / "outside"
    shutil.copytree(runs_root / "conv", outside)
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "sub").mkdir()
    (root / "sub" / "link").symlink_to(outside, target_is_directory=True)
    with TestClient(create_app(root), base_url="http://127.0.0.1") as c:
        assert [r["name"] for r in c.get("/api/runs").json()["runs"]] == ["inside"]
        for name in ("escape", "sub/link"):
            r = c.get("/api/sample", params={"run": name})
            assert r.status_code == 404 and "outside the served folder" in r.json()["detail"]


def test_a_damaged_run_is_reported_and_the_others_still_listed(runs_root, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(runs_root / "conv", root / "good")
    (root / "bad").mkdir()
    (root / "bad" / "config.json").write_text("{not json")
    with TestClient(create_app(root), base_url="http://127.0.0.1") as c:
        body = c.get("/api/runs").json()
        assert [r["name"] for r in body["runs"]] == ["good"]
        assert body["broken"][0]["name"] == "bad" and "damaged" in body["broken"][0]["error"]
        r = c.get("/api/sample", params={"run": "bad"})
        assert r.status_code == 400 and "damaged" in r.json()["detail"]


def test_other_host_headers_are_refused_on_a_loopback_server(client):
    assert client.get("/api/runs", headers={"host": "evil.example:8000"}).status_code == 400
    for host in ("127.0.0.1:8000", "localhost", "[::1]:8000"):
        assert client.get("/api/runs", headers={"host": host}).status_code == 200


def test_the_token_guards_every_request(runs_root):
    with TestClient(create_app(runs_root, token="s3cret", hosts=("*",)), base_url="http://10.0.0.5:8000") as c:
        assert c.get("/api/runs").status_code == 401
        assert c.get("/").status_code == 401 and "token" in c.get("/").text
        assert c.get("/static/app.js").status_code == 401
        assert c.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/?token=wrong", follow_redirects=False).status_code == 401
        r = c.get("/?token=s3cret", follow_redirects=False)  # the link vaekit serve prints
        assert r.status_code == 303 and r.headers["location"] == "/" and "httponly" in r.headers["set-cookie"].lower()
        assert c.get("/api/runs").status_code == 200  # the cookie now carries it
        assert c.get("/").status_code == 200


def test_uploads_are_capped_in_bytes_and_pixels(runs_root):
    with TestClient(create_app(runs_root, max_upload_bytes=2000, max_pixels=10_000), base_url="http://127.0.0.1") as c:

        def check(raw: bytes):
            return c.post("/api/check", json={"run": "mlp", "image": _b64(raw)})

        noise = torch.rand(64, 64).mul(255).to(torch.uint8).numpy()
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(noise).save(buf, format="PNG")
        big = check(buf.getvalue())  # ~4 KB of noise
        assert big.status_code == 413 and "2,000" in big.json()["detail"]
        wide = check(_png(1000, 1000))  # small file, a million pixels
        assert wide.status_code == 413 and "1,000,000 pixels" in wide.json()["detail"]
        assert check(_png(64, 64)).status_code == 200  # resized to the model's 8x8
        huge_body = c.post("/api/check", content=b"{" + b" " * 10_000_000 + b"}", headers={"content-type": "application/json"})
        assert huge_body.status_code == 413


def test_pillows_decompression_bomb_guard_is_an_error(client, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow warns above this, errors above twice
    r = client.post("/api/check", json={"run": "mlp", "image": _b64(_png(40, 40))})  # 1,600 pixels: only a warning
    assert r.status_code == 413 and "decompression-bomb guard" in r.json()["detail"]


@pytest.mark.parametrize(
    "body, status, needle",
    [
        ({"run": "mlp", "image": _b64(b"GIF89a not an image")}, 400, "PNG or JPEG"),
        ({"run": "mlp", "image": _b64(_png(8, 8, fmt="GIF"))}, 400, "PNG or JPEG"),
        ({"run": "mlp", "image": "@@@"}, 400, "base64"),
        ({"run": "mlp"}, 400, "upload a PNG or JPEG"),
        ({"run": "mlp", "image": _b64(_png(8, 8)), "extra": 1}, 422, "extra"),
        ({"run": "wine", "row": "1,2,3"}, 400, "13"),
        ({"run": "wine", "row": ",".join(["x"] * 13)}, 400, "not a number"),
        ({"run": "wine", "row": ",".join(["1"] * 12 + [""])}, 400, "Inpaint"),
        ({"run": "cvae", "image": _b64(_png(8, 8))}, 400, "pick the label"),
        ({"run": "cvae", "image": _b64(_png(8, 8)), "label": 10}, 400, "0-9"),
        ({"run": "conv", "image": _b64(_png(8, 8)), "label": 1}, 400, "not conditional"),
    ],
)
def test_bad_inputs_get_a_4xx_with_a_message(client, body, status, needle):
    r = client.post("/api/check", json=body)
    assert r.status_code == status and needle in r.json()["detail"], r.json()
    assert client.get("/api/sample", params={"run": "mlp", "n": 1}).status_code == 200


def test_bad_requests_elsewhere_get_a_4xx_with_a_message(client):
    cases = [
        (client.post("/api/decode", content=b"not json"), 422, "JSON"),
        (client.post("/api/decode", json={"run": "mlp", "z": [0.0]}), 400, "2-dimensional"),
        (client.post("/api/decode", json={"run": "cvae", "z": [0.0] * 4}), 400, "pick the label"),
        (client.get("/api/sample", params={"run": "mlp", "n": 100000}), 422, "n:"),
        (client.get("/api/sample", params={"run": "mlp", "temperature": -1}), 422, "temperature"),
        (client.get("/api/sample", params={"run": "mlp", "sampler": "gmm"}), 400, "fit-sampler"),
        (client.get("/api/point", params={"run": "mlp", "index": 10**6}), 400, "not on the map"),
        (client.post("/api/interpolate", json={"run": "mlp", "a": 0, "b": 1, "steps": 1}), 422, "steps"),
        (client.post("/api/inpaint", json={"run": "mlp", "image": _b64(_png(8, 8))}), 400, "nothing is missing"),
        (client.post("/api/inpaint", json={"run": "mlp", "image": _b64(_png(8, 8)), "mask": [0, 1]}), 400, "64 values"),
        (client.get("/api/example.png", params={"run": "wine", "index": 0}), 400, "tables"),
    ]
    for r, status, needle in cases:
        assert r.status_code == status and needle in r.json()["detail"], r.json()


def test_a_run_whose_data_is_gone_still_samples_and_says_why_it_has_no_map(runs_root, tmp_path):
    import json

    run = tmp_path / "root" / "moved"
    shutil.copytree(runs_root / "wine", run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["config"]["data"]["source"] = f"csv:{tmp_path / 'gone.csv'}"
    (run / "config.json").write_text(json.dumps(cfg))
    with TestClient(create_app(tmp_path / "root"), base_url="http://127.0.0.1") as c:
        r = c.get("/api/explore", params={"run": "moved"})
        assert r.status_code == 400 and "gone.csv does not exist" in r.json()["detail"]
        assert c.get("/api/sample", params={"run": "moved", "n": 2}).status_code == 200
