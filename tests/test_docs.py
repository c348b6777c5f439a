"""The documentation's relative links point at files that exist (README, documentation/, benchmarks/, plans/)."""

import glob
import os
import re

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PAGES = ["README.md", "benchmarks/README.md", "plans/README.md", *sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "documentation", "*.md")))]


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_resolve(page):
    path = os.path.join(ROOT, page)
    if not os.path.isfile(path):
        pytest.skip(f"{page} not present")
    text = open(path).read()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target) or target.startswith("#"):
            continue
        file = target.split("#", 1)[0]
        if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(path), file))):
            broken.append(target)
    assert not broken, f"{page}: links to missing files {broken}"


def test_readme_top_is_one_screen_and_links_every_documentation_page():
    text = open(os.path.join(ROOT, "README.md")).read()
    top = text[:text.index("## Using it on your own datasets")]
    assert len(top.splitlines()) <= 60
    for page in glob.glob(os.path.join(ROOT, "documentation", "*.md")):
        assert f"documentation/{os.path.basename(page)}" in text, page
