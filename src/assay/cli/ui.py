"""``assay ui``: serve the embedded store's web UI and open a browser on it."""

from __future__ import annotations

import os
import socket
import threading
import webbrowser

import click
from rich.console import Console

from assay.cli.main import reports_errors, uri_option
from assay.errors import InvalidInput
from assay.store.base import resolve_uri, scheme_of


@click.command("ui")
@uri_option
@click.option("--port", default=5151, show_default=True, type=int)
@click.option("--no-browser", is_flag=True, help="Serve without opening a browser.")
@reports_errors
def ui_command(uri: str | None, port: int, no_browser: bool) -> None:
    """Serve the web UI of an embedded store on 127.0.0.1 (no auth: this machine only)."""
    serve_local(resolve_uri(uri), port, open_browser=not no_browser)


def serve_local(uri: str, port: int, open_browser: bool) -> None:
    import uvicorn

    from assay.server.config import ServerConfig

    if scheme_of(uri) != "file":
        raise InvalidInput(f"{uri!r} is not an embedded store; open a team server's URL instead")
    os.environ.update(ServerConfig(uri, local=True).to_env())
    sock = listen(port)  # the address is ours before the URL is printed
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    Console(stderr=True).print(f"Assay UI on [bold]{url}[/] for {uri} (Ctrl-C to stop)")
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    config = uvicorn.Config("assay.server.app:app_from_env", factory=True, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


def listen(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:``port``, or InvalidInput naming the port in use."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise InvalidInput(
            f"port {port} on 127.0.0.1 is in use ({exc.strerror}); choose another with --port"
        ) from None
    sock.listen(2048)
    return sock
