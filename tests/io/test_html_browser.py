"""The interactive HTML map in a real headless browser (Debian chromium via Playwright).

Skipped when chromium (``.ci/install_browser.sh``) or the playwright package is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import spatialfuse as sf

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.is_file(),
        reason=f"{CHROMIUM} is missing: install Debian's chromium with .ci/install_browser.sh",
    ),
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is missing: pip install playwright"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def annotated():
    adata = sf.datasets.demo()
    adata = adata[adata.obs["layer"].notna()].copy()
    adata.obs["spatialfuse_domain"] = adata.obs["layer"].astype(str).astype("category")
    adata.obs["spatialfuse_domain_confidence"] = np.linspace(0.5, 1.0, adata.n_obs)
    return adata


def _screen_position(page, adata, spot: int) -> tuple[float, float]:
    """Where ``spot`` is on screen, from its full-res position and the page's current view."""
    library = next(iter(adata.uns["spatial"]))
    scale = adata.uns["spatial"][library]["scalefactors"]["tissue_lowres_scalef"]
    x, y = adata.obsm["spatial"][spot] * scale  # lowres pixels: the image the page embeds
    view = page.evaluate(
        "() => { const r = document.getElementById('map').getBoundingClientRect();"
        " const v = window.spatialfuseMap.view;"
        " return {left: r.left, top: r.top, scale: v.scale, tx: v.tx, ty: v.ty}; }"
    )
    return view["left"] + view["tx"] + x * view["scale"], view["top"] + view["ty"] + y * view[
        "scale"
    ]


def test_html_map_in_browser(browser, annotated, tmp_path):
    path = sf.io.export_html(annotated, tmp_path / "map.html")
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda err: errors.append(str(err)))
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    page.wait_for_function("window.spatialfuseMap && window.spatialfuseMap.ready", timeout=10_000)

    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    counts = annotated.obs["spatialfuse_domain"].value_counts()
    assert page.evaluate("window.spatialfuseMap.nSpots") == annotated.n_obs
    assert page.evaluate("window.spatialfuseMap.nDrawn") == annotated.n_obs

    # hover a spot in the middle of L3: the tooltip names it
    l3 = np.flatnonzero(annotated.obs["spatialfuse_domain"].to_numpy() == "L3")
    spot = int(l3[len(l3) // 2])
    page.mouse.move(*_screen_position(page, annotated, spot))
    tooltip = page.locator("#tooltip")
    tooltip.wait_for(state="visible", timeout=5_000)
    text = tooltip.inner_text()
    assert annotated.obs_names[spot] in text
    assert "L3" in text
    assert f"{annotated.obs['spatialfuse_domain_confidence'].iloc[spot]:.3f}" in text
    page.screenshot(path=str(tmp_path / "map.png"))

    # the legend hides L3: fewer spots drawn, and hovering the same place names no L3 spot
    page.locator('.legend-item[data-domain="L3"]').click()
    assert page.evaluate("window.spatialfuseMap.nDrawn") == annotated.n_obs - counts["L3"]
    page.mouse.move(*_screen_position(page, annotated, spot))
    assert not tooltip.is_visible() or annotated.obs_names[spot] not in tooltip.inner_text()

    # zoom in with the wheel around the spot: the view scales, the spot stays under the cursor
    page.locator('.legend-item[data-domain="L3"]').click()
    before = page.evaluate("window.spatialfuseMap.view.scale")
    x, y = _screen_position(page, annotated, spot)
    page.mouse.move(x, y)
    page.mouse.wheel(0, -400)
    page.wait_for_function(f"window.spatialfuseMap.view.scale > {before} * 1.5", timeout=5_000)
    page.mouse.move(*_screen_position(page, annotated, spot))
    assert annotated.obs_names[spot] in tooltip.inner_text()
    assert np.allclose(_screen_position(page, annotated, spot), (x, y), atol=1.0)
    page.screenshot(path=str(tmp_path / "map_zoomed.png"))
    assert errors == []
    page.close()
