"""``vaekit serve``: a web page over run directories (an optional extra: ``pip install 'vaekit[web]'``).

``vaekit.web.app.create_app(root)`` builds the FastAPI application; the page itself is plain HTML,
CSS and JavaScript in ``static/``, shipped inside the package. Every computation is a call into
``applications`` and ``evaluation``; the only files the server writes are its embedding caches in
``<run>/.vaekit-web-cache/``. Nothing here is imported by the rest of vaekit.
"""
