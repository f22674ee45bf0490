"""The README's pictures of a run's report as Chromium draws it: headless Chromium driven over
its DevTools protocol, each picture clipped to a part of the page. Needs Chromium and aiohttp
(which the serve extra brings); also logs every address the page asked for, which must be none.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

WIDTH = 1100
# (file name, the CSS selector its picture starts at, the one it ends with)
PARTS = [
    ("report-figures", "header", "#loss"),
    ("report-attention", "#attention", "#attention details[open]"),
    ("report-learning", "#learning h3", "#learning figure"),
]


def browser() -> str | None:
    names = ("chromium", "chromium-browser", "google-chrome")
    return next((path for name in names if (path := shutil.which(name))), None)


async def _shoot(page: Path, out_dir: Path, port: int) -> tuple[list[Path], list[str]]:
    import aiohttp

    targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
    target = next(t for t in targets if t["type"] == "page")
    fetched: list[str] = []
    saved: list[Path] = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws,
    ):
        ids = iter(range(1, 10**6))

        async def call(method: str, **params):
            key = next(ids)
            await ws.send_json({"id": key, "method": method, "params": params})
            while True:
                message = await ws.receive_json()
                if message.get("method") == "Network.requestWillBeSent":
                    fetched.append(message["params"]["request"]["url"])
                if message.get("id") == key:
                    return message.get("result", {})

        await call("Network.enable")
        await call("Page.enable")
        await call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=900,
                   deviceScaleFactor=1, mobile=False)  # fmt: skip
        await call("Page.navigate", url=page.as_uri())
        await asyncio.sleep(3)
        for name, start, end in PARTS:
            script = (
                f"(() => {{ const a = document.querySelector({json.dumps(start)})"
                f".getBoundingClientRect(); const b = document.querySelector({json.dumps(end)})"
                ".getBoundingClientRect(); return JSON.stringify([a.top + scrollY, "
                "b.bottom + scrollY]); })()"
            )
            result = await call("Runtime.evaluate", expression=script, returnByValue=True)
            top, bottom = json.loads(result["result"]["value"])
            clip = {"x": 0, "y": max(0, top - 12), "width": WIDTH, "height": bottom - top + 24,
                    "scale": 1}  # fmt: skip
            shot = await call("Page.captureScreenshot", format="png", clip=clip,
                              captureBeyondViewport=True)  # fmt: skip
            path = out_dir / f"{name}.png"
            path.write_bytes(base64.b64decode(shot["data"]))
            saved.append(path)
    return saved, [url for url in fetched if not url.startswith(("file:", "data:"))]


def shoot_report(page: Path, out_dir: Path) -> list[Path]:
    """PNGs of the report's parts in out_dir; raises if Chromium is missing or the page fetched
    anything."""
    path = browser()
    if path is None:
        raise RuntimeError("Chromium is not installed (apt-get install chromium)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as profile:
        chromium = subprocess.Popen(
            [path, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            saved, fetched = asyncio.run(_shoot(page, out_dir, port))
        finally:
            chromium.terminate()
            chromium.wait(timeout=30)
    if fetched:
        raise RuntimeError(f"the report asked for {fetched}")
    return saved
