"""Floor view benchmark (not a test): headless Chromium against `gemba serve --demo --demo-machines N`.

Every tag is chosen under "Values", so every sample streams to the page and every tile shows nine
values. Measures the first meaningful paint of the floor (navigation start → every tile drawn with its
state and values, the `floor-painted` performance mark) and, over 10 s of live updates, the
samples arriving per second, render batches, the gaps between animation frames and the main
thread's long tasks (over 50 ms: the page's own work, as opposed to the machine being busy).
Run by scripts/bench-dashboard.sh; prints one JSON line."""

import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

HTTP = os.environ["GEMBA_HTTP_URL"]
PASSWORD = os.environ["GEMBA_ADMIN_PASSWORD"]
MACHINES = int(sys.argv[1])


def stored():
    """Samples the server has stored so far (its ingest counter)."""
    with urllib.request.urlopen(HTTP + "/metrics", timeout=30) as response:
        return sum(float(line.split()[-1]) for line in response.read().decode().splitlines()
                   if line.startswith("gemba_ingest_samples_stored_total"))


def call(path, body=None, token=None):
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(HTTP + path, data=None if body is None else json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


tokens = call("/api/v1/auth/login", {"email": "admin@gemba.local", "password": PASSWORD})
deadline = time.monotonic() + 120  # the demo registers its machines as their first records arrive
while len(call("/api/v1/machines", token=tokens["access_token"])["machines"]) < MACHINES:
    if time.monotonic() > deadline:
        raise SystemExit(f"the demo did not register {MACHINES} machines in 120 s")
    time.sleep(0.1)  # polling interval; the deadline above bounds the wait
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000"]:
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    driver.get(HTTP + "/#/login")
    # Every tag of every machine on the tiles (the "Values" choice), so every sample the factory sends streams to the page.
    tags = sorted({tag["name"] for tag in call("/api/v1/tags", token=tokens["access_token"])["tags"]} - {"state"})
    driver.execute_script("sessionStorage.setItem('gemba.access', arguments[0]); sessionStorage.setItem('gemba.refresh', arguments[1]);"
                          "localStorage.setItem('gemba.floor.tags', arguments[2]);",
                          tokens["access_token"], tokens["refresh_token"], json.dumps(tags))
    paints = []
    for _ in range(5):
        driver.get("about:blank")
        driver.get(HTTP + "/#/floor")
        deadline = time.monotonic() + 30
        mark = None
        while mark is None and time.monotonic() < deadline:
            mark = driver.execute_script("const m = performance.getEntriesByName('floor-painted')[0]; return m ? m.startTime : null;")
            time.sleep(0.02)
        tiles = driver.execute_script("return document.querySelectorAll('.tile').length")
        assert tiles == MACHINES, tiles
        paints.append(mark)
    driver.execute_script("""
        window.longTasks = [];
        new PerformanceObserver((list) => { for (const e of list.getEntries()) window.longTasks.push(e.duration); })
          .observe({ type: "longtask", buffered: false });
        window.frameGaps = []; let last = performance.now();
        const loop = (now) => { window.frameGaps.push(now - last); last = now; if (window.frameGaps.length < 100000) requestAnimationFrame(loop); };
        requestAnimationFrame(loop); window.gembaFloorStats = { frames: 0, samples: 0, skipped: 0 };""")
    stored_before = stored()
    time.sleep(10)
    stored_after = stored()
    stats = driver.execute_script("return [window.gembaFloorStats, window.frameGaps, window.longTasks]")
    gaps = sorted(stats[1])
    result = {"machines": MACHINES, "first_paint_ms_median": sorted(paints)[len(paints) // 2], "first_paint_ms": paints,
              "server_stored_per_s": (stored_after - stored_before) / 10, "samples_per_s": stats[0]["samples"] / 10, "collapsed_by_server_per_s": stats[0]["skipped"] / 10, "render_batches_per_s": stats[0]["frames"] / 10,
              "frame_gap_p50_ms": gaps[len(gaps) // 2], "frame_gap_p99_ms": gaps[int(len(gaps) * 0.99)], "frame_gap_max_ms": gaps[-1],
              "frames_over_50ms": sum(1 for gap in gaps if gap > 50),
              "long_tasks": len(stats[2]), "long_task_max_ms": max(stats[2], default=0)}
    print(json.dumps(result))
finally:
    driver.quit()
