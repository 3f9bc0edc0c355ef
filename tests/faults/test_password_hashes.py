"""The NATS config `crew up` writes holds bcrypt hashes, never a password that logs in, and
nats-server lets every component in with its plain password."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import bcrypt
import nats
import nats.errors
import pytest

from crew import urls
from house import auth
from house.natsserver import NatsServer
from tests.faults.harness import say
from tests.ports import free_port


def test_the_authorization_block_holds_one_hash_a_user_and_no_password() -> None:
    passwords = auth.passwords()
    block = auth.authorization_block(passwords)
    found = dict(re.findall(r'"user": "(\w+)",\s+"password": "([^"]+)"', block))
    assert set(found) == set(auth.LOGINS) == set(auth.ROLES) - {auth.ANONYMOUS}
    assert '"user": "nobody",\n      "permissions"' in block  # no password: see authorization_block
    for user in auth.LOGINS:
        password = passwords[user]
        assert password not in block
        assert found[user].startswith(f"$2a${auth.BCRYPT_COST:02d}$")
        assert bcrypt.checkpw(password.encode(), found[user].encode())


async def test_components_log_in_with_their_plain_passwords_not_with_the_hashes(
    tmp_path: Path,
) -> None:
    passwords = auth.passwords()
    server = NatsServer(tmp_path, free_port(), authorization=auth.authorization_block(passwords))
    server.start()
    try:
        written = server.config.read_text()
        assert not [user for user, p in passwords.items() if p in written]
        for user in auth.LOGINS:
            nc = await nats.connect(
                urls.with_credentials(server.url, user, passwords[user]), allow_reconnect=False
            )
            await nc.flush()
            await nc.close()
        hashes = re.findall(r'"password": "([^"]+)"', written)
        with pytest.raises(nats.errors.Error):
            await nats.connect(
                urls.with_credentials(server.url, "house", hashes[0]),
                allow_reconnect=False,
                max_reconnect_attempts=0,
            )
        say(f"crew up's nats.conf: {len(hashes)} bcrypt hashes, no password; plain ones log in")
    finally:
        server.stop()


def test_the_nats_conf_of_a_running_house_holds_no_password_of_house_json(
    house: tuple[dict[str, str], object],
) -> None:
    home = Path(house[0]["CREW_HOME"])
    urls = [u for u in json.loads((home / "house.json").read_text()).values() if "://" in str(u)]
    secrets = {urlsplit(u.split(",")[0]).password for u in urls} - {None}
    assert len(secrets) >= 2  # the coordinator's and the observer's, at least
    written = (home / "nats.conf").read_text()
    assert not [s for s in secrets if s and s in written]
    assert written.count('"password": "$2a$') == len(auth.LOGINS)
