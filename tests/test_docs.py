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


def test_every_number_in_the_readme_answer_table_is_in_the_scenario_table_or_a_cited_report():
    """The README's answer table quotes, never retypes: each Dice or Δ it shows appears in benchmarks/README.md's
    generated scenario table or in a report it links (its table.md or results)."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    answer = readme[readme.index("<!-- answer:begin -->"):readme.index("<!-- answer:end -->")]
    bench = open(os.path.join(ROOT, "benchmarks", "README.md")).read()
    sources = bench[bench.index("<!-- scenarios:begin -->"):bench.index("<!-- scenarios:end -->")]
    for link in re.findall(r"\]\((benchmarks/[^)#\s]+)\)", answer):
        path = os.path.join(ROOT, link)
        if os.path.isfile(path):
            sources += open(path).read()
    numbers = set(re.findall(r"(?<![\d.])[+-]?0\.\d{3}(?!\d)", answer))
    assert numbers, "the answer table quotes no numbers"
    missing = sorted(n for n in numbers if n not in sources and n.lstrip("+") not in sources)
    assert not missing, f"README answer table numbers not found in the scenario table or cited reports: {missing}"


def test_source_comments_cite_documents_in_the_repository():
    """Comments cite documentation/ files that exist, never the design spec outside the repository or tracker
    issue numbers."""
    bad, missing = [], []
    files = [p for folder, pattern in (("nnssl", "*.py"), ("tests", "*.py"), ("scripts", "*.*"), ("trainers", "*.py"))
             for p in glob.glob(os.path.join(ROOT, folder, "**", pattern), recursive=True)]
    for path in files:
        text = open(path).read()
        rel = os.path.relpath(path, ROOT)
        if rel == os.path.join("tests", "test_docs.py"):  # this test names the patterns it looks for
            continue
        bad += [f"{rel}: {m}" for m in re.findall(r"method_spec|\(issue \d+|[Ii]ssue \d+[:'s]", text)]
        missing += [f"{rel}: {d}" for d in re.findall(r"(?<!nnU-Net's )documentation/(\w+\.md)", text)
                    if not os.path.isfile(os.path.join(ROOT, "documentation", d))]
    assert not bad and not missing, bad + missing
