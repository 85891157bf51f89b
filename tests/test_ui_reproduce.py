"""The run page's Reproduce panel, the System section and the environment differences of the
compare page (issue 18, item 7), in Debian's headless Chromium against a real ``autolog
server`` process.

The runs are written through the public Client with the tags and artifacts of the projects
contract: a diff made by real git in a temporary repository (a change adding "<script>" text,
a staged file, a deletion, a binary file), untracked files kept and left out, environment
locks, an input, a rerun pair and system metrics.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from ui_page import WatchedPage, watched_page

import autolog

# the browser tests are marked "browser" by conftest (they use the chromium fixture)
pytestmark = pytest.mark.server

COMMAND = "python train.py --lr 0.1"
SCRIPT_LINE = "print(\"<script>alert('diff')</script>\")"
IMG_LINE = "# <img src=x onerror=alert('img')>"
REMOTE = "https://example.com/team/project.git"
HELPER = "def helper():\n    return 42\n"

LOCK_ORIGINAL = """\
# autolog environment lock
# python: 3.11.7
# implementation: CPython
# platform: linux-x86_64
# env: OMP_NUM_THREADS=4
# env: PYTHONHASHSEED=0
-e /work/main  # autolog==0.1.0 (editable)
mypkg @ file:///tmp/mypkg-1.0-py3-none-any.whl  # mypkg==1.0 (direct URL)
numpy==2.1.3
scikit-learn==1.5.2
torch==2.13.0+cpu
"""
#: the rerun's: numpy changed, scikit-learn removed, pandas added, PYTHONHASHSEED changed
LOCK_RERUN = """\
# autolog environment lock
# python: 3.11.7
# implementation: CPython
# platform: linux-x86_64
# env: OMP_NUM_THREADS=4
# env: PYTHONHASHSEED=1
-e /work/main  # autolog==0.1.0 (editable)
mypkg @ file:///tmp/mypkg-1.0-py3-none-any.whl  # mypkg==1.0 (direct URL)
numpy==2.2.0
pandas==2.2.3
torch==2.13.0+cpu
"""
BIG_FILES = 50
BIG_LINES = 2_500  # per file: 50 x 2,500 lines of ~42 bytes, a little over 5 MB


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=UI Test", "-c", "user.email=ui@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )
    return done.stdout.decode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Repo:
    """A git work tree with uncommitted changes of every kind, and what git says of them."""

    root: Path
    commit: str
    diff: bytes
    changed: list[str]
    untracked: dict[str, int] = field(default_factory=dict)


def make_repo(root: Path) -> Repo:
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _git(root, "remote", "add", "origin", REMOTE)
    (root / "src").mkdir()
    (root / "train.py").write_text(
        "import argparse\n\nLR = 0.01  # the default\nEPOCHS = 3\n\n\ndef main():\n"
        "    return 'trained'\n"
    )
    (root / "src" / "model.py").write_text("class Model:\n    depth = 3\n")
    (root / "README.md").write_text("# project\n")
    (root / "weights.bin").write_bytes(bytes(range(256)))
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "first")
    commit = _git(root, "rev-parse", "HEAD").strip()
    # unstaged: a changed line and one that adds markup; staged: a change and a new file
    (root / "train.py").write_text(
        "import argparse\n\nLR = 0.1  # the default\nEPOCHS = 3\n\n\ndef main():\n"
        f"    {SCRIPT_LINE}\n    {IMG_LINE}\n    return 'trained'\n"
    )
    (root / "src" / "model.py").write_text("class Model:\n    depth = 5\n")
    (root / "src" / "extra.py").write_text("EXTRA = True\n")
    _git(root, "add", "src")
    (root / "README.md").unlink()
    (root / "weights.bin").write_bytes(bytes(reversed(range(256))))
    (root / "helper.py").write_text(HELPER)
    (root / "big.dat").write_bytes(b"x" * 4096)
    diff = subprocess.run(
        ["git", "diff", "HEAD", "--binary"], cwd=root, check=True, capture_output=True
    ).stdout
    changed = _git(root, "diff", "HEAD", "--name-only").split()
    return Repo(root, commit, diff, sorted(changed), {"helper.py": len(HELPER)})


def big_patch() -> str:
    """A patch of about 5 MB: BIG_FILES new files of BIG_LINES lines each."""
    parts = []
    for n in range(BIG_FILES):
        parts.append(
            f"diff --git a/gen/file{n}.py b/gen/file{n}.py\nnew file mode 100644\n"
            f"index 0000000..1111111\n--- /dev/null\n+++ b/gen/file{n}.py\n"
            f"@@ -0,0 +1,{BIG_LINES} @@\n"
        )
        parts.append(
            "".join(f"+value_{i:06d} = {i} * 2  # generated line\n" for i in range(BIG_LINES))
        )
    return "".join(parts)


@dataclass
class Seeded:
    experiment_id: str
    runs: dict[str, str]
    repo: Repo
    data_file: Path


def seed(tracking_uri: str, scratch: Path) -> Seeded:
    """The runs: original (everything), rerun and twin (one lock), plain, big (a 5 MB diff)."""
    repo = make_repo(scratch / "repo")
    files = scratch / "files"
    (files / "code").mkdir(parents=True)
    (files / "env-a").mkdir()
    (files / "env-b").mkdir()
    (files / "code" / "diff.patch").write_bytes(repo.diff)
    (files / "env-a" / "requirements.lock").write_text(LOCK_ORIGINAL)
    (files / "env-b" / "requirements.lock").write_text(LOCK_RERUN)
    manifest = {
        "commit": repo.commit,
        "branch": "main",
        "remote": REMOTE,
        "root": str(repo.root),
        "workdir": ".",
        "argv": ["train.py", "--lr", "0.1"],
        "dirty": True,
        "diff_bytes": len(repo.diff),
        "untracked": [{"path": "helper.py", "size": len(HELPER)}],
        "skipped": [{"path": "big.dat", "size": 4096, "reason": "over the untracked bound"}],
        "max_untracked_bytes": 1024,
    }
    (files / "code" / "manifest.json").write_text(json.dumps(manifest))
    data_file = scratch / "train.csv"
    data_file.write_text("x,y\n1,2\n3,4\n")
    data = data_file.read_bytes()
    code_tags = {
        "autolog.command": COMMAND,
        "autolog.entry_point": "train.py",
        "autolog.git.commit": repo.commit,
        "autolog.git.branch": "main",
        "autolog.git.remote": REMOTE,
        "autolog.git.dirty": "true",
        "autolog.code.workdir": ".",
        "autolog.code.argv": json.dumps(manifest["argv"]),
        "autolog.input.train": json.dumps(
            {
                "path": str(data_file),
                "kind": "file",
                "size": len(data),
                "files": 1,
                "sha256": _sha256(data),
            }
        ),
    }
    with autolog.Client(tracking_uri) as client:
        experiment = client.get_or_create_experiment("ui-reproduce")
        runs: dict[str, str] = {}

        def new(name: str, tags: dict[str, str], lock: str | None) -> str:
            run_id = client.create_run(
                experiment_id=experiment.experiment_id, run_name=name
            ).info.run_id
            runs[name] = run_id
            if lock is not None:
                folder = files / ("env-a" if lock == LOCK_ORIGINAL else "env-b")
                tags = {**tags, "autolog.environment.sha256": _sha256(lock.encode())}
                client.log_artifact(run_id, folder / "requirements.lock", "environment")
            client.set_tags(run_id, tags)
            return run_id

        original = new("original", code_tags, LOCK_ORIGINAL)
        for name in ("diff.patch", "manifest.json"):
            client.log_artifact(original, files / "code" / name, "code")
        client.log_artifact(original, repo.root / "helper.py", "code/untracked")
        for step in range(5):
            client.log_metric(original, "loss", 1.0 / (step + 1), step=step)
            client.log_metric(original, "system/cpu_percent", 50.0 + step, step=step)
            client.log_metric(original, "system/memory_rss_mb", 200.0 + 10 * step, step=step)
        client.log_metric(original, "acc", 0.9)

        rerun = new("rerun", {**code_tags, "autolog.rerun_of": original}, LOCK_RERUN)
        client.log_artifact(rerun, files / "code" / "manifest.json", "code")
        new("twin", {"autolog.command": COMMAND}, LOCK_RERUN)
        new("plain", {}, None)

        big_argv = json.dumps(["-m", "pkg.train", "--note", "it's 1"])  # no autolog.command
        big = new("big", {"autolog.code.workdir": ".", "autolog.code.argv": big_argv}, None)
        (files / "big").mkdir()
        (files / "big" / "diff.patch").write_text(big_patch())
        client.log_artifact(big, files / "big" / "diff.patch", "code")

        for run_id in runs.values():
            client.set_terminated(run_id)
        client.flush()
    return Seeded(experiment.experiment_id, runs, repo, data_file)


@dataclass
class Server:
    url: str
    seeded: Seeded


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    pytest.importorskip("fastapi", reason="the web UI is served by the server extra")
    from servers import ServerProcess

    root = tmp_path_factory.mktemp("ui-reproduce")
    store_uri = f"sqlite:///{root}/ui.db"
    seeded = seed(store_uri, root)
    process = ServerProcess(["--backend-store-uri", store_uri, "--port", "0"], cwd=root)
    try:
        yield Server(process.url, seeded)
    finally:
        process.stop()


class Page(WatchedPage):
    """A browser page on the UI server, opened on a run's page."""

    def run(self, run_id: str) -> None:
        self.goto(f"/runs/{run_id}")


@pytest.fixture
def page(chromium: Any, server: Server) -> Iterator[Page]:
    with watched_page(chromium, Page, server.url) as wrapped:
        yield wrapped


# ------------------------------------------------------------------------------ the panel


def test_the_panel_shows_the_command_the_rerun_line_and_the_code(
    page: Page, server: Server
) -> None:
    runs = server.seeded.runs
    page.run(runs["original"])
    panel = page.page.locator("#reproduce")
    panel.wait_for()
    assert page.texts("#reproduce .repro-cmd code") == [COMMAND]
    assert page.texts("#reproduce .repro-rerun code") == [f"autolog rerun {runs['original']}"]
    assert panel.locator(".repro-rerun button").get_attribute("aria-label") == (
        "Copy the rerun command"
    )
    code = panel.locator(".repro-code").text_content() or ""
    for expected in (server.seeded.repo.commit, "main", REMOTE, "uncommitted changes"):
        assert expected in code
    assert page.page.locator("nav.subnav a[href='#reproduce']").is_visible()


def test_the_diff_is_shown_file_by_file_with_coloured_lines(page: Page, server: Server) -> None:
    repo = server.seeded.repo
    page.run(server.seeded.runs["original"])
    page.page.wait_for_selector("#reproduce .diff-file")
    paths = page.page.eval_on_selector_all(
        "#reproduce details.diff-file", "(blocks) => blocks.map((b) => b.dataset.path)"
    )
    assert sorted(paths) == repo.changed
    assert set(repo.changed) == {
        "README.md",
        "src/extra.py",
        "src/model.py",
        "train.py",
        "weights.bin",
    }
    train = page.page.locator("#reproduce details.diff-file[data-path='train.py']")
    assert train.get_attribute("open") is not None  # small files open at once
    assert (train.locator(".diff-adds").text_content() or "") == "+3"
    # the added line that holds markup is text in a coloured row, never an element
    added = page.texts("#reproduce details[data-path='train.py'] tr.dl-add td.dl-code")
    assert f"    {SCRIPT_LINE}" in [a.lstrip("+") for a in added]
    assert f"    {IMG_LINE}" in [a.lstrip("+") for a in added]
    assert page.page.locator("#reproduce img").count() == 0
    assert "LR = 0.1  # the default" in [a.lstrip("+") for a in added]
    removed = page.texts("#reproduce details[data-path='train.py'] tr.dl-del td.dl-code")
    assert [r.lstrip("-") for r in removed] == ["LR = 0.01  # the default"]
    assert page.texts("#reproduce details[data-path='train.py'] tr.dl-hunk")[0].startswith("@@ -1,")
    meta = page.texts("#reproduce details[data-path='train.py'] tr.dl-meta")
    assert len(meta) == 1  # the summary names the file: no diff --git, --- or +++ line
    assert meta[0].startswith("index ")
    assert page.page.locator("#reproduce script").count() == 0
    colours = page.page.eval_on_selector(
        "#reproduce details[data-path='train.py']",
        """(b) => ['tr.dl-add', 'tr.dl-del', 'tr.dl-hunk', 'tr.dl-ctx'].map(
            (s) => getComputedStyle(b.querySelector(s)).backgroundColor)""",
    )
    assert len(set(colours)) == 4, colours  # added, removed, hunk header and context differ
    # a Python keyword and a comment are highlighted inside the lines
    assert "def" in page.texts("#reproduce details[data-path='train.py'] .tok-kw")
    assert "# the default" in page.texts("#reproduce details[data-path='train.py'] .tok-com")
    # new, deleted and binary files say so; a folded file opens on a click
    assert "new file" in (
        page.page.locator("details[data-path='src/extra.py'] summary").text_content() or ""
    )
    assert "deleted" in (
        page.page.locator("details[data-path='README.md'] summary").text_content() or ""
    )
    binary = page.page.locator("details[data-path='weights.bin']")
    if binary.get_attribute("open") is None:
        binary.locator("summary").click()
    assert "binary file" in (binary.locator(".diff-note").text_content() or "").lower()


def test_untracked_files_are_listed_and_open_in_the_viewer(page: Page, server: Server) -> None:
    page.run(server.seeded.runs["original"])
    rows = page.page.locator("#reproduce .repro-untracked tbody tr")
    rows.first.wait_for()
    assert rows.count() == 1
    assert page.texts("#reproduce .repro-untracked tbody tr td:first-child") == ["helper.py"]
    assert page.texts("#reproduce .repro-untracked tbody tr td.num") == [f"{len(HELPER)} B"]
    skipped = page.texts("#reproduce .repro-skipped li")
    assert skipped == ["big.dat 4.0 KB · over the untracked bound"]
    page.page.click("#reproduce button[aria-label='Open helper.py']")
    preview = page.page.locator("#reproduce .repro-preview pre.preview-text")
    preview.wait_for()
    assert preview.text_content() == HELPER
    download = page.page.locator("#reproduce .repro-preview a.button").get_attribute("href")
    assert (
        download
        == f"/api/v1/runs/{server.seeded.runs['original']}/artifacts/code/untracked/helper.py"
    )


def test_the_environment_and_the_inputs(page: Page, server: Server) -> None:
    page.run(server.seeded.runs["original"])
    env = page.page.locator("#reproduce .repro-env")
    env.wait_for()
    facts = env.locator("dl").text_content() or ""
    assert "3.11.7 · CPython" in facts
    assert "linux-x86_64" in facts
    assert page.texts("#reproduce .repro-env-vars tbody th") == [
        "OMP_NUM_THREADS",
        "PYTHONHASHSEED",
    ]
    env.locator("details.repro-packages summary").click()
    names = page.texts("#reproduce .repro-packages tbody td:first-child")
    assert names == ["autolog", "mypkg", "numpy", "scikit-learn", "torch"]
    assert page.texts("#reproduce .repro-packages tr[data-package='autolog'] td")[1:] == [
        "0.1.0",
        "editable",
    ]
    env.locator("input[aria-label='Filter packages']").fill("sci")
    assert page.texts("#reproduce .repro-packages tbody td:first-child") == ["scikit-learn"]
    assert (env.locator("details.repro-packages summary").text_content() or "").endswith("1 of 5")

    row = page.page.locator("#reproduce .repro-inputs tr[data-input='train']")
    data = server.seeded.data_file.read_bytes()
    cells = [c.strip() for c in row.locator("td").all_text_contents()]
    assert cells[0] == str(server.seeded.data_file)
    assert cells[1] == f"{len(data)} B"
    sha = row.locator("code.hash")
    assert sha.text_content() == f"{_sha256(data)[:12]}…"
    assert sha.get_attribute("title") == _sha256(data)


def test_a_run_that_recorded_nothing_has_no_panel(page: Page, server: Server) -> None:
    page.run(server.seeded.runs["plain"])
    page.page.wait_for_selector("#params h3")
    page.page.wait_for_load_state("networkidle")
    assert page.page.locator("#reproduce").is_hidden()
    assert page.page.locator("nav.subnav a[href='#reproduce']").is_hidden()
    assert page.page.locator("#system").is_hidden()


# ------------------------------------------------------------------------ reruns, environments


def test_reruns_are_linked_both_ways(page: Page, server: Server) -> None:
    runs = server.seeded.runs
    page.run(runs["rerun"])
    back = page.page.locator("#reproduce .repro-rerun-of a")
    assert back.get_attribute("href") == f"/runs/{runs['original']}"
    back.click()
    page.page.wait_for_url(re.compile(f"/runs/{runs['original']}$"))
    forward = page.page.locator("#reproduce .repro-reruns a")
    forward.wait_for()
    assert forward.get_attribute("href") == f"/runs/{runs['rerun']}"
    assert forward.text_content() == "rerun"
    assert "Re-run once" in (page.page.locator("#reproduce .repro-reruns").text_content() or "")


def test_the_run_page_compares_the_environment_with_the_original(
    page: Page, server: Server
) -> None:
    runs = server.seeded.runs
    page.run(runs["rerun"])
    other = page.page.locator("#reproduce input.repro-env-other")
    other.wait_for()
    assert other.input_value() == runs["original"]  # preselected: the run it re-ran
    table = page.page.locator("#reproduce .repro-env-result table.env-diff")
    table.wait_for()
    kinds = page.page.eval_on_selector_all(
        "#reproduce table.env-diff tbody tr[data-group='Packages']",
        "(rows) => Object.fromEntries(rows.map((r) => [r.dataset.key, r.dataset.kind]))",
    )
    # relative to the earlier run (the original): pandas came, scikit-learn went
    assert kinds == {"numpy": "changed", "pandas": "added", "scikit-learn": "removed"}
    numpy = page.texts("#reproduce table.env-diff tr[data-key='numpy'] td")
    assert numpy == ["2.1.3", "2.2.0"]
    assert page.texts("#reproduce table.env-diff tr[data-key='PYTHONHASHSEED'] td") == ["0", "1"]
    summary = page.page.locator("#reproduce .env-summary").text_content()
    assert summary == "3 packages differ: 1 added, 1 removed, 1 changed."
    # against a run with the same lock: the hashes agree, nothing is read
    other.fill(runs["twin"])
    page.page.click("#reproduce .repro-env-compare button")
    page.page.locator("#reproduce .repro-env-result .env-same").wait_for()
    assert "Same environment" in (page.page.locator("#reproduce .env-same").text_content() or "")


def test_the_compare_page_shows_how_the_environments_differ(page: Page, server: Server) -> None:
    runs = server.seeded.runs
    response = page.page.goto(f"{server.url}/compare?runs={runs['original']},{runs['rerun']}")
    assert response is not None
    assert response.status == 200
    table = page.page.locator("#environment table.env-diff")
    table.wait_for()
    kinds = page.page.eval_on_selector_all(
        "#environment tr[data-group='Packages']",
        "(rows) => Object.fromEntries(rows.map((r) => [r.dataset.key, r.dataset.kind]))",
    )
    # relative to the first run: pandas came, scikit-learn went, numpy moved
    assert kinds == {"numpy": "changed", "pandas": "added", "scikit-learn": "removed"}
    assert page.texts("#environment tr[data-key='pandas'] td") == ["—", "2.2.3"]
    assert page.texts("#environment tr[data-group='Environment variables'] th") == [
        "PYTHONHASHSEED"
    ]
    assert page.page.locator("#environment tr[data-group='Python and platform']").count() == 0

    page.page.goto(f"{server.url}/compare?runs={runs['rerun']},{runs['twin']}")
    same = page.page.locator("#environment .env-same")
    same.wait_for()
    assert "Same environment" in (same.text_content() or "")
    assert page.page.locator("#environment table").count() == 0

    page.page.goto(f"{server.url}/compare?runs={runs['original']},{runs['rerun']},{runs['plain']}")
    page.page.locator("#environment table.env-diff").wait_for()
    assert page.texts("#environment .env-missing a") == ["plain"]
    assert page.page.locator("#environment thead th a").count() == 2


# ------------------------------------------------------------------------- system metrics


def test_system_metrics_have_a_section_of_their_own(page: Page, server: Server) -> None:
    page.run(server.seeded.runs["original"])
    page.page.wait_for_selector("#metrics figure[data-metric='loss'][data-drawn-at]")
    assert page.texts("#metrics table.metrics-table tbody th") == ["acc", "loss"]
    assert page.page.locator("#metrics figure[data-metric^='system/']").count() == 0
    system = page.page.locator("#system")
    assert system.is_visible()
    assert page.texts("#system tbody th") == ["system/cpu_percent", "system/memory_rss_mb"]
    system.scroll_into_view_if_needed()
    chart = "#system figure[data-metric='system/cpu_percent'][data-drawn-at]"
    page.page.wait_for_selector(chart)
    drawn = page.page.eval_on_selector(
        chart.replace("[data-drawn-at]", ""), "(el) => el.__chart.series[0].base.values"
    )
    assert drawn == [50.0, 51.0, 52.0, 53.0, 54.0]
    assert page.texts("#system tbody tr:first-child td")[:3] == ["54", "50", "54"]
    assert page.page.locator("nav.subnav a[href='#system']").is_visible()


def test_the_compare_page_charts_system_metrics_apart(page: Page, server: Server) -> None:
    runs = server.seeded.runs
    page.goto(f"/compare?runs={runs['original']},{runs['rerun']}")
    page.page.wait_for_selector("#curves figure[data-metric='loss']")
    assert page.page.locator("#curves figure[data-metric^='system/']").count() == 0
    assert page.page.locator("#parallel").count() == 1
    system = page.page.locator("#system")
    system.scroll_into_view_if_needed()
    chart = "#system figure[data-metric='system/cpu_percent'][data-drawn-at]"
    page.page.wait_for_selector(chart)
    drawn = page.page.eval_on_selector(
        chart.replace("[data-drawn-at]", ""), "(el) => el.__chart.series[0].base.values"
    )
    assert drawn == [50.0, 51.0, 52.0, 53.0, 54.0]


# ---------------------------------------------------------------------------- a 5 MB diff


def test_a_five_megabyte_diff_is_built_lazily(page: Page, server: Server) -> None:
    started = time.monotonic()
    page.run(server.seeded.runs["big"])
    page.page.wait_for_selector("#reproduce details.diff-file")
    elapsed = time.monotonic() - started
    assert page.page.locator("#reproduce details.diff-file").count() == BIG_FILES
    first = page.page.locator("#reproduce details.diff-file").first
    # the first file is larger than what opens unasked: it waits folded, nothing built
    assert first.get_attribute("open") is None
    assert page.page.locator("#reproduce tr.dl").count() == 0
    summary = page.texts("#reproduce .diff-summary")[0]
    assert summary == f"{BIG_FILES} files changed, +{BIG_FILES * BIG_LINES:,} \N{MINUS SIGN}0"
    first.locator("summary").click()
    rows = first.locator("tr.dl")
    rows.first.wait_for()
    # one batch of lines, less the header lines the summary says (diff --git, ---, +++)
    assert rows.count() == 400 - 3
    more = first.locator("button.diff-more")
    assert more.text_content() == f"Show 400 more lines ({BIG_LINES + 6 - 400:,} left)"
    more.click()
    assert rows.count() == 800 - 3
    assert elapsed < 10, f"the page took {elapsed:.1f} s to show a 5 MB diff"
    # a run with no command line typed: the command rebuilt from its argv, shell-quoted
    assert page.texts("#reproduce .repro-cmd code") == ["python -m pkg.train --note 'it'\"'\"'s 1'"]


# -------------------------------------------------------------------------- the HTTP side


def test_the_rest_search_finds_the_reruns_of_a_run(server: Server) -> None:
    runs = server.seeded.runs
    search = f"tags.\"autolog.rerun_of\" = '{runs['original']}'"
    with httpx.Client(base_url=f"{server.url}/api/v1") as http:
        page = http.post("/runs/search-page", json={"filter": search, "limit": 10}).json()
        assert [r["info"]["run_id"] for r in page["runs"]] == [runs["rerun"]]
        assert page["total"] == 1
        found = http.post("/runs/search", json={"filter": search}).json()
        assert [r["info"]["run_id"] for r in found["runs"]] == [runs["rerun"]]
        diff = http.get(f"/runs/{runs['original']}/artifacts/code/diff.patch")
        assert diff.status_code == 200
        assert diff.content == server.seeded.repo.diff
        assert diff.headers["content-disposition"] == "attachment"
    with autolog.Client(server.url) as client:
        assert [r.info.run_id for r in client.search_runs(filter_string=search)] == [runs["rerun"]]
