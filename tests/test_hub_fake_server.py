"""The local Hub-compatible server answers huggingface_hub the way the Hub does, and injects faults on request."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError, RemoteEntryNotFoundError

from seqtrack_accel.testing import FakeHub, Fault

TOKEN = "hf_fake_server_token"


@pytest.fixture
def hub():
    with FakeHub(token=TOKEN) as server:
        yield server


@pytest.fixture
def api(hub) -> HfApi:
    return HfApi(endpoint=hub.endpoint, token=TOKEN)


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
