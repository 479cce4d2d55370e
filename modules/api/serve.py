"""Running the app under uvicorn with a stop that does not wait on open streams.

On SIGTERM (or SIGINT) uvicorn stops accepting connections and waits for open responses to end. SSE streams
(task events, the result subscription) and the WebUI's heartbeat streams never end on their own, so the app's
`stopping` event is set first: they see it and close. Anything still open after `--timeout-graceful-shutdown`
seconds is cancelled; then the lifespan shutdown stops the task queue and the webhook dispatcher.
"""
from __future__ import annotations

import socket
import threading

import uvicorn
from fastapi import FastAPI, Request


def stopping_event(app: FastAPI) -> threading.Event:
    event = getattr(app.state, "stopping", None)
    if event is None:
        event = app.state.stopping = threading.Event()
    return event


def is_stopping(request: Request) -> bool:
    """True once the server has begun to stop: long-lived responses end themselves."""
    return stopping_event(request.app).is_set()


class StoppableServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI):
        super().__init__(config)
        self.easel_app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        stopping_event(self.easel_app).set()
        gradio = getattr(self.easel_app.state, "gradio_app", None)
        stop = getattr(gradio, "stop_event", None)
        if stop is not None:
            stop.set()  # Gradio ends its heartbeat streams on this event
        await super().shutdown(sockets)


def serve(app: FastAPI, *, host: str, port: int, timeout_keep_alive: int, timeout_graceful_shutdown: float,
          ssl_keyfile: str | None = None, ssl_certfile: str | None = None) -> None:
    """`ssl_keyfile` + `ssl_certfile` (A1111's --tls-keyfile / --tls-certfile): serve HTTPS."""
    stopping_event(app)
    config = uvicorn.Config(app, host=host, port=port, timeout_keep_alive=timeout_keep_alive, log_level="info",
                            timeout_graceful_shutdown=max(0.1, timeout_graceful_shutdown),  # type: ignore[arg-type]  # uvicorn takes float seconds
                            ssl_keyfile=ssl_keyfile, ssl_certfile=ssl_certfile)
    StoppableServer(config, app).run()
