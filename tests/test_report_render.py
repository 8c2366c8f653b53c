"""The HTML report renders in a real browser (headless Chromium, when installed)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import run_equigen

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


def _chromium(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    done = run_equigen("bench", "--quick", "--only", "symmetry-kit", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out / "report.html"


def test_every_figure_of_the_report_decodes_in_chromium(report, tmp_path):
    html = report.read_text()
    n_images = html.count("<img")
    assert n_images >= 1
    probe = tmp_path / "probe.html"
    probe.write_text(html + "<script>document.title = 'decoded:' + [...document.images]"
                            ".filter(i => i.complete && i.naturalWidth > 0).length;</script>")
    dom = _chromium(tmp_path, "--dump-dom", probe.as_uri()).stdout
    decoded = re.search(r"<title>decoded:(\d+)</title>", dom)
    assert decoded is not None, dom[:500]
    assert int(decoded.group(1)) == n_images


def test_screenshot_of_the_report_is_not_blank(report, tmp_path):
    shot = tmp_path / "report.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", report.as_uri())
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3].reshape(-1, 3)
    colours = {tuple((p * 255).astype(int)) for p in pixels[:: max(1, len(pixels) // 50000)]}
    assert len(colours) > 50  # text and a plot, not an empty page


def test_first_screen_shows_the_claim_table(report, tmp_path):
    """At 1200x900 the claim table and its verdicts are in view before any scrolling."""
    html = report.read_text()
    probe = tmp_path / "probe-claims.html"
    probe.write_text(html + "<script>const t = document.querySelector('table.claims');"
                            "const rows = t ? [...t.tBodies[0].rows] : [];"
                            "const seen = rows.filter(r => r.getBoundingClientRect().bottom <= window.innerHeight);"
                            "const badges = seen.filter(r => r.querySelector('.verdict'));"
                            "document.title = 'claims:' + rows.length + ':' + seen.length + ':' + badges.length + ':'"
                            " + Math.round(t ? t.getBoundingClientRect().top : -1);</script>")
    dom = _chromium(tmp_path, "--window-size=1200,900", "--dump-dom", probe.as_uri()).stdout
    found = re.search(r"<title>claims:(\d+):(\d+):(\d+):(-?\d+)</title>", dom)
    assert found is not None, dom[:500]
    rows, seen, badges, top = map(int, found.groups())
    assert rows >= 1 and seen == rows and badges == rows  # every claim row, with its verdict, on the first screen
    assert 0 <= top < 300
    # and the browser paints the verdict colours there (symmetry-kit's claims are reproduced: green)
    shot = tmp_path / "first-screen.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900", report.as_uri())
    from matplotlib.image import imread

    pixels = (imread(shot)[..., :3] * 255).round().astype(int).reshape(-1, 3)
    green = (pixels == [0xda, 0xfb, 0xe1]).all(axis=1).mean()
    assert green > 0.01
