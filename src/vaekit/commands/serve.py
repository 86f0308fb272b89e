"""`vaekit serve`: the web page over run directories, on uvicorn (``pip install 'vaekit[web]'``)."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from vaekit.errors import ConfigError, VaekitError


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="a web page over trained runs: samples, latent map, sliders, anomaly check, inpainting",
        description=(
            "Serve every run directory under ROOT (or the run ROOT itself) as a web page. Binds 127.0.0.1 "
            "unless --host says otherwise; on any other address pass --token, which every request must carry "
            "(open the printed address once: the page keeps it as a cookie)."
        ),
    )
    p.add_argument("root", help="a run directory, or a folder holding run directories")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--token", help="require this bearer token on every request (use it with any --host but loopback)")
    p.add_argument("--max-upload-mb", type=float, default=5.0, help="largest uploaded image file, in MB (default 5)")
    p.add_argument("--max-pixels", type=int, default=16_000_000, help="largest uploaded image, width x height (default 16M)")
    p.add_argument("--max-points", type=int, default=10_000, help="examples on the Explore map (default 10,000)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per request (default 1; requests run in parallel)")
    p.set_defaults(handler=_serve)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _serve(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_upload_mb <= 0 or args.max_pixels < 1 or args.max_points < 1 or args.threads < 1:
        raise ConfigError("--max-upload-mb, --max-pixels, --max-points and --threads must be positive")
    try:
        import uvicorn
    except ImportError:
        raise VaekitError("vaekit serve needs the web extra: pip install 'vaekit[web]'") from None
    import torch

    from vaekit.web.app import create_app
    from vaekit.web.security import LOOPBACK_HOSTS

    torch.set_num_threads(args.threads)
    local = is_loopback(args.host)
    if not local:
        note = "every request needs the token" if args.token else "WITHOUT a token: anyone who can reach it can use the page"
        print(f"vaekit serve: warning: listening on {args.host}, not only this machine; {note}", file=sys.stderr)
    app = create_app(
        args.root,
        token=args.token,
        hosts=(*LOOPBACK_HOSTS, args.host.strip("[]").lower()) if local else ("*",),  # e.g. 127.0.0.2 too
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_pixels=args.max_pixels,
        max_points=args.max_points,
    )
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{args.port}/"
    print(f"serving {app.state.catalog.root} at {url}{'?token=' + args.token if args.token else ''}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _add_serve(sub)
