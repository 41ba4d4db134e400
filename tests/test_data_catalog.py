"""The dataset catalog, name resolution and dataset_status."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gcl.data import canonical_name, catalog, dataset_status, list_datasets
from gcl.data.catalog import catalog_path, dataset_entry

EXPECTED = ["cora", "citeseer", "pubmed", "amazon-photo", "amazon-computers", "coauthor-cs",
            "coauthor-physics", "wikics", "ogbn-arxiv", "ogbn-products", "sdcn-cite", "synthetic",
            "acm", "dblp", "aminer", "imdb", "heco-acm", "heco-dblp", "heco-aminer"]
KINDS = {"planetoid", "amazon", "coauthor", "wikics", "ogb", "sdcn", "synthetic", "hetero"}


def test_catalog_lists_every_dataset():
    assert list_datasets() == EXPECTED
    assert catalog_path() == Path(__file__).resolve().parents[1] / "datasets" / "catalog.json"


def test_catalog_entries_are_complete():
    for name, entry in catalog().items():
        assert entry["name"] == name
        assert entry["kind"] in KINDS
        for key in ("aliases", "files", "source", "license", "citation", "stats",
                    "default_split"):
            assert key in entry, f"{name} lacks {key}"
        for f in entry["files"]:
            assert f["sha256"] is None or re.fullmatch(r"[0-9a-f]{64}", f["sha256"])
            assert f["size"] is None or f["size"] > 0
        if entry["kind"] != "synthetic":
            assert entry["files"] and entry["folder"] and entry["source"]["url"]
            assert set(entry["stats"]) >= {"num_nodes", "num_edges", "num_features",
                                           "num_classes"}


def test_catalog_is_a_copy():
    c = catalog()
    c["cora"]["folder"] = "elsewhere"
    assert catalog()["cora"]["folder"] == "planetoid/Cora"


def test_pubmed_allx_checksum_is_known():
    files = {f["path"]: f for f in dataset_entry("pubmed")["files"]}
    allx = files["raw/ind.pubmed.allx"]
    assert allx["sha256"].startswith("508e538e") and allx["size"] == 7578385


@pytest.mark.parametrize("alias, canonical", [
    ("Cora", "cora"), ("CORA", "cora"), ("CiteSeer", "citeseer"), ("amazon_photo", "amazon-photo"),
    ("Amazon Photo", "amazon-photo"), ("photo", "amazon-photo"), ("Computers", "amazon-computers"),
    ("coauthor_cs", "coauthor-cs"), ("CS", "coauthor-cs"), ("physics", "coauthor-physics"),
    ("Wiki-CS", "wikics"), ("ogbn_arxiv", "ogbn-arxiv"), ("arxiv", "ogbn-arxiv"),
    ("OGBN-Products", "ogbn-products"), ("synthetic", "synthetic"),
])
def test_aliases(alias, canonical):
    assert canonical_name(alias) == canonical


def test_unknown_name_suggests_closest():
    with pytest.raises(ValueError) as info:
        canonical_name("corra")
    message = str(info.value)
    assert "Did you mean 'cora'" in message
    assert all(name in message for name in EXPECTED)
    with pytest.raises(ValueError, match="Did you mean 'amazon-computers'"):
        canonical_name("amazon-computer")
    with pytest.raises(ValueError, match="Known datasets"):
        canonical_name("zzzzzzzz")


def test_catalog_checksums_match_the_mirror_sums(data_root):
    """Every sha256 in the catalog for a mirror file agrees with the mirror's SHA256SUMS."""
    sums_file = data_root / "SHA256SUMS"
    if not sums_file.is_file():
        pytest.skip(f"{sums_file} not found")
    sums = {}
    for line in sums_file.read_text().splitlines():
        if line.strip():
            digest, path = line.split(maxsplit=1)
            sums[path.lstrip("*").removeprefix("./")] = digest
    checked = 0
    for entry in catalog().values():
        for f in entry["files"]:
            rel = f"{entry['folder']}/{f['path']}" if entry["folder"] else None
            for candidate in (rel, f"partial/{rel}"):
                if candidate in sums:
                    assert f["sha256"] == sums[candidate], candidate
                    checked += 1
    assert checked >= 26  # Cora 8 + CiteSeer 8 + PubMed 7 + Photo + Computers + CS


def test_dataset_status_on_the_mirror(data_root):
    rows = {r["name"]: r for r in dataset_status(data_root)}
    assert set(rows) == set(EXPECTED)
    assert rows["cora"]["available"] and rows["cora"]["missing"] == []
    assert rows["synthetic"]["available"]
    assert not rows["pubmed"]["available"]
    assert any(m.endswith("ind.pubmed.allx") for m in rows["pubmed"]["missing"])
    assert not rows["wikics"]["available"]
    assert all(r["root"] == str(data_root.absolute()) for r in rows.values())


def test_dataset_status_uses_gcl_data(monkeypatch, tmp_path):
    monkeypatch.setenv("GCL_DATA", str(tmp_path))
    rows = {r["name"]: r for r in dataset_status()}
    assert rows["citeseer"]["root"] == str(tmp_path)
    assert not rows["citeseer"]["available"]
    assert rows["citeseer"]["missing"][0].startswith(
        str(tmp_path / "planetoid" / "CiteSeer" / "raw"))
    # Cora's files ship with gcl: available without the root
    assert rows["cora"]["available"] and rows["cora"]["source"] == "embedded"
