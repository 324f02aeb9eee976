"""What a visitor's link carries, made cheap for a phone's: the page, with every module it will need
announced in it, and the answers, compressed.

Gradio's page fetches its front end as a chain: the entry script imports the app, the app imports
Blocks, Blocks the component modules of the types on the page, each with its own stylesheets. On a
phone's link every step of the chain waits a round trip before the next is asked for. `PageLoad`
puts `<link rel="modulepreload">` / `<link rel="preload" as="style">` for the whole chain into the
page's <head>, so the browser asks for all of it at once (measured through a Slow-4G-like proxy in
`benchmarks.phone`: the pad ready about 0.5 s sooner).

The chain is read from Gradio's own built files (Vite's `__vite__mapDeps` tables), for the component
types of the page being sent. If a later Gradio builds its files differently, nothing is found and
the page goes out as it was: the hints only ever add speed, never a dependency.
"""

import functools
import json
import re
from pathlib import Path

import gradio
from starlette.middleware.gzip import GZipMiddleware

ASSETS = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"
_ENTRY = re.compile(r'src="\./assets/(index-[\w-]+\.js)"')
_DEPS_TABLE = re.compile(r"m\.f=\[([^\]]*)\]")
# A lazy import and the table rows of what it needs: `import(`./Blocks-X.js`) ... __vite__mapDeps([0,1,2])`
_LAZY_IMPORT = re.compile(r"import\(`\./([\w.-]+\.js)`\).{0,80}?__vite__mapDeps\(\[([\d,]+)\]\)")
# In the component table: `label:{component:()=>v(()=>import(`./Index-X.js`) ...`
_COMPONENT = re.compile(r"(\w+):\{(?:[^{}]*?,)?component:\(\)=>\w+\(\(\)=>import\(`\./([\w.-]+\.js)`\)")
_CONFIG = re.compile(r"window\.gradio_config = (.*?);</script>", re.S)


@functools.cache
def _lazy_imports(name):
    """{module: [files it needs]} for every lazy import in the asset `name`."""
    text = (ASSETS / name).read_text(encoding="utf-8")
    table = _DEPS_TABLE.search(text)
    files = [f.strip().strip('"').removeprefix("./") for f in table.group(1).split(",")] if table else []
    return {module: [files[int(i)] for i in rows.split(",")] for module, rows in _LAZY_IMPORT.findall(text)}


@functools.cache
def _component_modules():
    """{component type: its module}, from the front end's component table."""
    for module in ASSETS.glob("core-*.js"):
        found = dict(_COMPONENT.findall(module.read_text(encoding="utf-8")))
        if found:
            return found, module.name
    return {}, None


@functools.cache
def chain(entry, types):
    """The files the page fetches before its components can show: the app behind `entry`, Blocks, and
    the modules (with their stylesheets) of the component `types`. Empty if Gradio's build is not
    what this reads."""
    try:
        app = [m for m in _lazy_imports(entry) if m.startswith("Index-")]
        modules, core = _component_modules()
        if len(app) != 1 or not core:
            return ()
        files = [*_lazy_imports(entry)[app[0]], app[0]]
        files += [f for m, needs in _lazy_imports(app[0]).items() if m.startswith("Blocks-") for f in [*needs, m]]
        core_imports = _lazy_imports(core)
        for kind in sorted(types):
            module = modules.get(kind)
            if module in core_imports:
                files += [*core_imports[module], module]
    except (OSError, ValueError, IndexError):
        return ()
    return tuple(f for f in dict.fromkeys([entry, *files]) if (ASSETS / f).is_file())


@functools.lru_cache(maxsize=8)
def hints(page):
    """The <link> tags announcing what `page` (Gradio's HTML) will fetch, or "" if it cannot tell. Every
    visitor gets the same page: its config is parsed once, not on each page load."""
    entry, config = _ENTRY.search(page), _CONFIG.search(page)
    if not entry or not config:
        return ""
    try:
        config = json.loads(config.group(1))
    except ValueError:
        return ""
    types = frozenset(c["type"] for c in config.get("components", []) if c.get("props", {}).get("visible") is not False)
    files = chain(entry.group(1), types)
    links = [f'<link rel="modulepreload" crossorigin href="./assets/{f}">' if f.endswith(".js") else
             f'<link rel="preload" as="style" crossorigin href="./assets/{f}">' for f in files]
    if links and config.get("theme_hash"):  # the theme's stylesheet, asked for by the app once it runs
        links.append(f'<link rel="preload" as="style" href="./theme.css?v={config["theme_hash"]}">')
    return "".join(links)


class Transfer:
    """ASGI middleware, for the browsers that accept gzip:

    - the page's own HTML (the path "/"): the hints put into its <head>, then the whole compressed
      (about 120 KB with Gradio's config inlined, 18 KB compressed). Gradio compresses its files by
      their extension, and the page's path has none.
    - the answers to the page's direct calls (the pad's drawings): a lifted pen's answer carries
      "Inside a model"'s pictures, 17 KB, 6 KB compressed at level 1 in 0.1 ms: 0.05 s less on a
      1.6 Mbit/s link for a fraction of a millisecond of the server's core (a live answer: 4 KB).
    Nothing else is touched (the queue's event streams, Gradio's files)."""

    def __init__(self, app):
        self.app = app
        self.page = GZipMiddleware(self._with_hints, minimum_size=1024)
        self.answers = GZipMiddleware(app, minimum_size=1024, compresslevel=1)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] in ("", "/") and scope.get("method") == "GET":
            return await self.page(scope, receive, send)
        if scope["type"] == "http" and scope["path"].endswith("/run/predict") and scope.get("method") == "POST":
            return await self.answers(scope, receive, send)
        return await self.app(scope, receive, send)

    async def _with_hints(self, scope, receive, send):
        start, body = None, []

        async def hinted(message):  # the response held back until whole, then sent with the hints
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body":
                return await send(message)
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            page = b"".join(body)
            if start["status"] == 200 and dict(start["headers"]).get(b"content-type", b"").startswith(b"text/html"):
                page = page.replace(b"<head>", b"<head>" + hints(page.decode("utf-8", "replace")).encode(), 1)
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(page)).encode())]})
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, hinted)
