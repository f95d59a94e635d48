"""Reading a SQL Server's version and edition from @@VERSION, and its edition's size cap."""

from __future__ import annotations

import pytest

from ds_replication.sql_server import OldSqlServer, parse_version, refuse_old

# @@VERSION as these servers print it (from Microsoft's KB articles and installed servers)
VERSIONS = {
    "Microsoft SQL Server  2000 - 8.00.2039 (Intel X86) \n\tMay  3 2005 23:18:38 \n\tCopyright (c) 1988-2003 "
    "Microsoft Corporation\n\tDesktop Engine on Windows NT 5.2 (Build 3790: Service Pack 2)\n": ("8.00.2039", 2048),
    "Microsoft SQL Server 2005 - 9.00.5000.00 (Intel X86) \n\tDec 10 2010 10:56:29 \n\tCopyright (c) 1988-2005 "
    "Microsoft Corporation\n\tExpress Edition on Windows NT 5.2 (Build 3790: Service Pack 2)\n": ("9.00.5000", 4096),
    "Microsoft SQL Server 2008 (SP3) - 10.0.5500.0 (Intel X86) \n\tSep 22 2011 00:28:06 \n\tCopyright (c) "
    "1988-2008 Microsoft Corporation\n\tExpress Edition with Advanced Services on Windows NT 6.0 <X86> "
    "(Build 6002: Service Pack 2)\n": ("10.00.5500", 4096),
    "Microsoft SQL Server 2008 R2 (SP2) - 10.50.4000.0 (X64) \n\tJun 28 2012 08:36:30 \n\tCopyright (c) "
    "Microsoft Corporation\n\tExpress Edition (64-bit) on Windows NT 6.1 <X64> (Build 7601: Service Pack 1)\n": (
        "10.50.4000",
        10240,
    ),
    "Microsoft SQL Server 2005 - 9.00.4035.00 (Intel X86) \n\tNov 24 2008 13:01:59 \n\tCopyright (c) 1988-2005 "
    "Microsoft Corporation\n\tStandard Edition on Windows NT 5.2 (Build 3790: Service Pack 2)\n": ("9.00.4035", None),
}


@pytest.mark.parametrize("text", VERSIONS)
def test_version_and_cap_from_version_text(text):
    server = parse_version(text)
    assert (server.version, server.cap_mb) == VERSIONS[text], server


def test_only_sql_server_2000_is_refused():
    old, *newer = (parse_version(t) for t in VERSIONS)
    with pytest.raises(OldSqlServer, match=r"version 8\.00\.2039 .*needs SQL Server 2005"):
        refuse_old(old, "ds_site_mssql")
    for server in newer:
        refuse_old(server, "ds_site_mssql")
