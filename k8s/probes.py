"""/healthz and /readyz for the kubelet: alive while the loop answers; ready once it can serve.

Shell. What "ready" means is the caller's: the controller's leader is ready after its initial
pass, and a standby is ready while it waits (a Deployment needs it Ready to finish a rollout).
"""

from collections.abc import Callable

from aiohttp import web


async def serve(port: int, is_ready: Callable[[], str | None]) -> web.AppRunner | None:
    """Serve the probes on `port` (0 disables them); `is_ready` returns why not, or None."""
    if not port:
        return None

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        why_not = is_ready()
        if why_not is None:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=f"not ready: {why_not}\n")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, port=port).start()
    return runner
