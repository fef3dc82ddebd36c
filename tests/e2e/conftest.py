"""Fixtures: start ./parley (or $PARLEY_BIN) on a free loopback port with a
temporary state directory, and connect IRC clients to it."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import launch  # noqa: E402
from ircclient import Client  # noqa: E402
from mock_mastodon import MockMastodon  # noqa: E402

# tests import these from here
BIN = launch.BIN
ROOT = launch.ROOT


class Parley(launch.Parley):
    """tests/launch.py's Parley, plus IRC clients connected to it."""

    def client(self, **kw):
        return Client(self.port, **kw)


@pytest.fixture
def parley_factory(tmp_path):
    made = []

    def make(**kw):
        p = Parley(tmp_path, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.finish()


@pytest.fixture
def mock():
    """A mock Mastodon server (tests/mock_mastodon.py) on a free port."""
    m = MockMastodon().start()
    yield m
    m.stop()


@pytest.fixture
def parley(parley_factory):
    return parley_factory().start()
