"""SERVERPROPERTY and @@VERSION follow the host's facts (`python -m tests.lab server --version V
--edition E`), as a server of that version answers them, and the package reads each of the
versions it checks from them as intended.

Sources: "SERVERPROPERTY (Transact-SQL)" (ProductVersion, ProductLevel, Edition, EngineEdition:
1 Personal/Desktop Engine, 2 Standard, 3 Enterprise, 4 Express); "@@VERSION (Transact-SQL)";
KB 321185 "How to determine the version, edition, and update level of SQL Server" (the builds
of each service pack and the wording of @@VERSION).
"""

from __future__ import annotations

import sqlite3

import pytest

from ds_replication.sql_server import OldSqlServer, parse_version, refuse_old
from tests.lab.tsql import Engine
from tests.lab.tsql import server as facts
from tests.lab_tests.test_tsql import rows

# version, edition -> ProductLevel, EngineEdition, the product name @@VERSION gives, the package's
# data cap in MB (None: no cap; "refused": below its floor, SQL Server 2005)
VERSIONS = {
    ("8.00.2039", "Desktop Engine"): ("SP4", "1", "Microsoft SQL Server  2000 - 8.00.2039 (Intel X86)", "refused"),
    ("8.00.760", "Standard Edition"): ("SP3", "2", "Microsoft SQL Server  2000 - 8.00.760 (Intel X86)", "refused"),
    ("9.00.1399.06", "Express Edition"): ("RTM", "4", "Microsoft SQL Server 2005 - 9.00.1399.06 (Intel X86)", 4096),
    ("9.00.5000.00", "Express Edition"): ("SP4", "4", "Microsoft SQL Server 2005 - 9.00.5000.00 (Intel X86)", 4096),
    ("9.00.4035.00", "Standard Edition"): ("SP3", "2", "Microsoft SQL Server 2005 - 9.00.4035.00 (Intel X86)", None),
    ("10.0.5500.0", "Express Edition with Advanced Services"): (
        "SP3",
        "4",
        "Microsoft SQL Server 2008 (SP3) - 10.0.5500.0 (Intel X86)",
        4096,
    ),
    ("10.50.1600.1", "Express Edition"): (
        "RTM",
        "4",
        "Microsoft SQL Server 2008 R2 (RTM) - 10.50.1600.1 (Intel X86)",
        10240,
    ),
    ("10.50.4000.0", "Express Edition (64-bit)"): (
        "SP2",
        "4",
        "Microsoft SQL Server 2008 R2 (SP2) - 10.50.4000.0 (X64)",
        10240,
    ),
    ("11.0.2100.60", "Enterprise Edition (64-bit)"): (
        "RTM",
        "3",
        "Microsoft SQL Server 2012 - 11.0.2100.60 (X64)",
        None,
    ),
    ("11.0.3000.0", "Express Edition"): (
        "SP1",
        "4",
        "Microsoft SQL Server 2012 (SP1) - 11.0.3000.0 (Intel X86)",
        10240,
    ),
}


@pytest.mark.parametrize(("version", "edition"), VERSIONS)
def test_serverproperty_and_version_follow_the_servers_version(db_path, version, edition):
    level, engine_edition, product_line, cap = VERSIONS[(version, edition)]
    db = sqlite3.connect(db_path)
    facts.set_facts(db, product_version=version, edition=edition)
    db.close()
    session = Engine(str(db_path)).session()
    answer = rows(
        session,
        "SELECT SERVERPROPERTY('ProductVersion'), SERVERPROPERTY('ProductLevel'), SERVERPROPERTY('Edition'), "
        "SERVERPROPERTY('EngineEdition'), SERVERPROPERTY('NoSuchProperty'), @@VERSION",
    )
    session.close()
    assert answer[0][:5] == (version, level, edition, engine_edition, None)
    text = answer[0][5]
    assert text.startswith(product_line + " \n\t"), text
    assert f"\n\t{edition} on Windows NT" in text, text
    server = parse_version(text)  # the package reads the version and edition from @@VERSION
    assert server.edition == edition
    if cap == "refused":
        with pytest.raises(OldSqlServer, match=rf"version {version} \({edition}; 8\.00 is SQL Server 2000"):
            refuse_old(server, "ds_slave1_mssql")
    else:
        refuse_old(server, "ds_slave1_mssql")
        assert server.cap_mb == cap


def test_a_running_session_sees_the_version_change(db_path):
    """`server --version` changes a running host: the next SERVERPROPERTY reads the new facts."""
    session = Engine(str(db_path)).session()
    assert rows(session, "SELECT SERVERPROPERTY('ProductVersion'), SERVERPROPERTY('ProductLevel')") == [
        ("9.00.5000.00", "SP4")
    ]
    db = sqlite3.connect(db_path)
    facts.set_facts(db, product_version="10.50.6000.34", edition="Standard Edition")
    db.close()
    assert rows(session, "SELECT SERVERPROPERTY('ProductVersion'), SERVERPROPERTY('ProductLevel'), "
                         "SERVERPROPERTY('EngineEdition')") == [("10.50.6000.34", "SP3", "2")]  # fmt: skip
    session.close()
