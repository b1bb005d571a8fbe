"""The local Hub-compatible server answers huggingface_hub the way the Hub does, and injects faults on request."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import urllib.error
import urllib.request
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError, RemoteEntryNotFoundError

from fake_hub import Fault
from hub_helpers import HUB_TOKEN



def _send(method: str, url: str, body: bytes, *, token: str | None = HUB_TOKEN) -> tuple[int, bytes]:
    """One raw HTTP request (for what huggingface_hub never sends wrong): status and body."""
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture
def api(hub) -> HfApi:
    return HfApi(endpoint=hub.endpoint, token=HUB_TOKEN)


def test_a_commit_round_trips_through_huggingface_hub(hub, api, tmp_path):
    api.create_repo("org/repo", private=True)
    api.create_commit("org/repo", [CommitOperationAdd("a/b.bin", b"\x00\x01payload")], commit_message="add")

    local = api.hf_hub_download("org/repo", "a/b.bin", local_dir=tmp_path)

    assert Path(local).read_bytes() == b"\x00\x01payload"
    assert sorted(api.list_repo_files("org/repo")) == [".gitattributes", "a/b.bin"]


def test_a_failed_commit_changes_nothing(hub, api):
    api.create_repo("org/repo")
    with pytest.raises(RemoteEntryNotFoundError):
        api.create_commit("org/repo", [CommitOperationAdd("new.txt", b"new"), CommitOperationDelete("missing.txt")],
                          commit_message="half valid")

    assert "new.txt" not in hub.files("org/repo")
    assert len(hub.commits("org/repo")) == 1  # only the repo's creation


def test_requests_without_the_token_are_refused_with_401(hub):
    with pytest.raises(HfHubHTTPError) as err:
        HfApi(endpoint=hub.endpoint, token="hf_wrong").whoami()

    assert err.value.response.status_code == 401


def test_a_fault_waits_for_the_first_request_it_matches(hub, api):
    api.create_repo("org/repo")
    hub.inject([Fault.status(503, match="/commit/")])

    api.repo_info("org/repo")  # does not match: passes untouched
    with pytest.raises(HfHubHTTPError):
        api.create_commit("org/repo", [CommitOperationAdd("x.txt", b"x")], commit_message="x")

    answered = [(r.method, r.path.split("/")[-2], r.status) for r in hub.requests[1:]]
    assert answered == [("GET", "org", 200), ("POST", "preupload", 200), ("POST", "commit", 503)]
    assert hub.pending_faults() == []


def test_a_weights_file_goes_through_the_lfs_batch_api_and_the_commit_names_its_sha256(hub, api):
    api.create_repo("org/repo")
    weights = b"\x00weights" * 64
    api.create_commit("org/repo", [CommitOperationAdd("model.safetensors", weights),
                                   CommitOperationAdd("notes.txt", b"plain text")], commit_message="add")

    steps = [(r.method, r.path.split("/")[-1], r.status) for r in hub.requests[2:]]
    oid = hashlib.sha256(weights).hexdigest()
    assert steps == [("POST", "batch", 200), ("PUT", oid, 200), ("POST", "verify", 200), ("POST", "main", 200)]
    lfs = {entry.path: entry.lfs for entry in api.list_repo_tree("org/repo")}
    assert lfs["model.safetensors"].sha256 == oid and lfs["notes.txt"] is None


def test_a_large_lfs_file_round_trips_byte_for_byte_through_hf_hub_download(hub, api, tmp_path):
    api.create_repo("org/repo")
    payload = bytes(range(256)) * (11 * 4096)  # 11 MiB: over the size threshold whatever the name
    api.create_commit("org/repo", [CommitOperationAdd("state/blob.dat", payload)], commit_message="big")

    local = api.hf_hub_download("org/repo", "state/blob.dat", cache_dir=tmp_path)

    assert Path(local).read_bytes() == payload
    assert hub.files("org/repo")["state/blob.dat"] == payload


def test_a_commit_naming_an_lfs_object_never_uploaded_is_refused_and_changes_nothing(hub, api):
    api.create_repo("org/repo")
    line = {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": "ab" * 32, "size": 3}}
    body = "\n".join(json.dumps(x) for x in ({"key": "header", "value": {"summary": "ghost"}}, line))

    status, answer = _send("POST", f"{hub.endpoint}/api/models/org/repo/commit/main", body.encode())

    assert status == 400 and "never uploaded" in json.loads(answer)["error"]
    assert len(hub.commits("org/repo")) == 1


def test_an_lfs_upload_whose_bytes_do_not_match_the_announced_sha256_is_refused(hub, api):
    api.create_repo("org/repo")
    claimed = hashlib.sha256(b"the real bytes").hexdigest()
    request = {"operation": "upload", "transfers": ["basic"], "hash_algo": "sha256",
               "objects": [{"oid": claimed, "size": 14}]}
    _, batch = _send("POST", f"{hub.endpoint}/org/repo.git/info/lfs/objects/batch", json.dumps(request).encode())
    href = json.loads(batch)["objects"][0]["actions"]["upload"]["href"]

    assert _send("PUT", href, b"other bytes!!!", token=None)[0] == 400
    assert _send("PUT", href, b"the real bytes", token=None)[0] == 200  # no token needed: the URL is signed


def test_a_fault_matching_the_lfs_upload_fails_it_before_the_commit(hub, api):
    api.create_repo("org/repo")
    hub.inject([Fault.status(403, match="/info/lfs/objects/batch")])

    with pytest.raises(HfHubHTTPError):
        api.create_commit("org/repo", [CommitOperationAdd("w.safetensors", b"\x00w")], commit_message="x")

    assert not any(r.path.endswith("/commit/main") for r in hub.requests)
    assert len(hub.commits("org/repo")) == 1


def test_the_server_is_test_code_outside_the_installed_package():
    assert importlib.util.find_spec("seqtrack_accel.testing") is None
