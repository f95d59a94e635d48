"""What the lab's SQL Server says about itself: its version and edition (`@@VERSION`), and the
size of its database files (`sys.database_files`), its database's recovery model
(`sys.databases`), and its one server option, `nested triggers` (`sp_configure`, `RECONFIGURE`,
`sys.configurations`).

The facts live in the `lab_server` table of the host's database, so a test can change them
while the host runs (`python -m tests.lab server`): `product_version` (e.g. 9.00.5000.00),
`edition` (e.g. Express Edition, or Desktop Engine for MSDE 2000), `data_pages` (the data
file's size in 8-KB pages; unset: the SQLite file's own size), `log_pages` (the log file's
size; unset: 1 MB), `log_growth_pages` (its autogrowth in pages, 0: none; unset: 10 percent),
`recovery_model` (SIMPLE, FULL or BULK_LOGGED; SIMPLE as SQL Server Express's model database
gives a new database) and `nested_triggers` (0 or 1, value and value in use at once; T-SQL's sp_configure sets the
value, RECONFIGURE puts it in use). A version older than 9 (SQL Server 2000, MSDE 2000) has no
`sys.*` views: naming one fails with 208, as there.
"""

from __future__ import annotations

import sqlite3

DEFAULTS = {
    "product_version": "9.00.5000.00",
    "edition": "Express Edition",
    "collation": "SQL_Latin1_General_CP1_CI_AS",  # the server's and the database's default collation
    "nested_triggers": "1",  # sp_configure's value (sys.configurations.value)
    "nested_triggers_in_use": "1",  # ... and what the server runs with (value_in_use), set by RECONFIGURE
    "recovery_model": "SIMPLE",
}
# sys.configurations: the one option the lab has (configuration_id 115, 'nested triggers': 0-1,
# dynamic, not advanced; its value is sql_variant in SQL Server, int here).
CONFIGURATIONS_VIEW = (
    "SELECT 115 AS configuration_id, 'nested triggers' COLLATE NOCASE AS name, "
    "CAST(COALESCE((SELECT s.value FROM lab_server AS s WHERE s.name = 'nested_triggers'), 1) AS INTEGER) AS value, "
    "0 AS minimum, 1 AS maximum, "
    "CAST(COALESCE((SELECT s.value FROM lab_server AS s WHERE s.name = 'nested_triggers_in_use'), 1) AS INTEGER) "
    "AS value_in_use, 'Allow triggers to be invoked within triggers' AS description, 1 AS is_dynamic, "
    "0 AS is_advanced"
)
OPTIONS = {"nested triggers": ("nested_triggers", 0, 1)}
PRODUCTS = {(8, 0): "2000", (9, 0): "2005", (10, 0): "2008", (10, 50): "2008 R2", (11, 0): "2012"}
# The first build of each service pack (SERVERPROPERTY('ProductLevel'); Microsoft's "Determine
# the version, edition, and update level of SQL Server and its components", KB 321185).
SERVICE_PACKS = {
    (8, 0): ((384, "SP1"), (532, "SP2"), (760, "SP3"), (2039, "SP4")),
    (9, 0): ((2047, "SP1"), (3042, "SP2"), (4035, "SP3"), (5000, "SP4")),
    (10, 0): ((2531, "SP1"), (4000, "SP2"), (5500, "SP3"), (6000, "SP4")),
    (10, 50): ((2500, "SP1"), (4000, "SP2"), (6000, "SP3")),
    (11, 0): ((3000, "SP1"), (5058, "SP2"), (6020, "SP3"), (7001, "SP4")),
}
TABLE_DDL = "CREATE TABLE IF NOT EXISTS lab_server (name TEXT NOT NULL PRIMARY KEY, value TEXT)"
LOG_PAGES = 128  # the log file: 1 MB, as a new database's
# SQL Server 2005's defaults for a new database: data grows by 1 MB (128 pages), the log by 10 percent
DATA_GROWTH_PAGES = 128
LOG_GROWTH_PERCENT = 10
FACTS = (
    "product_version",
    "edition",
    "data_pages",
    "log_pages",
    "log_growth_pages",
    "nested_triggers",
    "recovery_model",
)
# sys.databases ("sys.databases (Transact-SQL)"): recovery_model 1 FULL, 2 BULK_LOGGED, 3 SIMPLE.
# The lab lists its one database (database_id 5, the first a user creates), not the system ones.
RECOVERY_MODELS = {"FULL": 1, "BULK_LOGGED": 2, "SIMPLE": 3}
_RECOVERY = "COALESCE((SELECT s.value FROM lab_server AS s WHERE s.name = 'recovery_model'), 'SIMPLE')"
DATABASES_VIEW = (
    "SELECT 'express' COLLATE NOCASE AS name, 5 AS database_id, 90 AS compatibility_level, "
    f"'ONLINE' AS state_desc, CASE {_RECOVERY} "
    + " ".join(f"WHEN '{name}' THEN {number}" for name, number in RECOVERY_MODELS.items())
    + f" END AS recovery_model, {_RECOVERY} AS recovery_model_desc"
)

_DATA_PAGES = (
    "COALESCE((SELECT CAST(s.value AS INTEGER) FROM lab_server AS s WHERE s.name = 'data_pages'), "
    "(SELECT p.page_count * z.page_size / 8192 + 1 FROM pragma_page_count() AS p, pragma_page_size() AS z))"
)


def _log_fact(name: str, default: str) -> str:
    return f"COALESCE((SELECT CAST(s.value AS INTEGER) FROM lab_server AS s WHERE s.name = '{name}'), {default})"


# The log: LOG_PAGES growing by 10 percent up to 2 TB (268435456 pages), unless facts
# `log_pages` and `log_growth_pages` (0: no autogrowth) say otherwise.
_LOG_GROWTH = _log_fact("log_growth_pages", str(LOG_GROWTH_PERCENT))
_LOG_PERCENT = "CASE WHEN EXISTS (SELECT 1 FROM lab_server AS s WHERE s.name = 'log_growth_pages') THEN 0 ELSE 1 END"
DATABASE_FILES_VIEW = (
    f"SELECT 1 AS file_id, 0 AS type, 'ROWS' AS type_desc, 'express' AS name, "
    f"'C:\\Program Files\\Microsoft SQL Server\\MSSQL.1\\MSSQL\\Data\\express.mdf' AS physical_name, "
    f"{_DATA_PAGES} AS size, -1 AS max_size, {DATA_GROWTH_PAGES} AS growth, 0 AS is_percent_growth "
    f"UNION ALL SELECT 2, 1, 'LOG', 'express_log', "
    f"'C:\\Program Files\\Microsoft SQL Server\\MSSQL.1\\MSSQL\\Data\\express_log.ldf', "
    f"{_log_fact('log_pages', str(LOG_PAGES))}, 268435456, {_LOG_GROWTH}, {_LOG_PERCENT}"
)


def set_facts(db: sqlite3.Connection, **facts: str | None) -> dict[str, str | None]:
    """Change facts of a host (None: leave it); every fact afterwards."""
    unknown = set(facts) - set(FACTS)
    if unknown:
        raise ValueError(f"no server fact {sorted(unknown)}")
    if facts.get("recovery_model") not in (None, *RECOVERY_MODELS):
        raise ValueError(f"recovery model {facts['recovery_model']!r}: one of {', '.join(RECOVERY_MODELS)}")
    prepare(db)
    chosen = {name: value for name, value in facts.items() if value is not None}
    if "nested_triggers" in chosen:  # the server runs with it: configured and installed (RECONFIGURE)
        chosen["nested_triggers_in_use"] = chosen["nested_triggers"]
    db.executemany("INSERT OR REPLACE INTO lab_server (name, value) VALUES (?, ?)", chosen.items())
    db.commit()
    return {name: fact(db, name) for name in FACTS}


def configure(db: sqlite3.Connection, option: str, value: int) -> None:
    """sp_configure: the option's value; in use only after RECONFIGURE (reconfigure)."""
    db.execute("INSERT OR REPLACE INTO lab_server (name, value) VALUES (?, ?)", (OPTIONS[option][0], str(value)))


def reconfigure(db: sqlite3.Connection) -> None:
    for fact_name, _, _ in OPTIONS.values():
        db.execute(
            "INSERT OR REPLACE INTO lab_server (name, value) VALUES (?, ?)",
            (f"{fact_name}_in_use", fact(db, fact_name)),
        )


def prepare(db: sqlite3.Connection) -> None:
    """Once per database (inside catalog.prepare_database's transaction)."""
    db.execute(TABLE_DDL)
    db.executemany("INSERT OR IGNORE INTO lab_server (name, value) VALUES (?, ?)", DEFAULTS.items())


def fact(db: sqlite3.Connection, name: str) -> str | None:
    row = db.execute("SELECT value FROM lab_server WHERE name = ?", (name,)).fetchone()
    return row[0] if row else DEFAULTS.get(name)


def major_minor(db: sqlite3.Connection) -> tuple[int, int]:
    parts = str(fact(db, "product_version")).split(".")
    return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0


def build(db: sqlite3.Connection) -> int:
    parts = str(fact(db, "product_version")).split(".")
    return int(parts[2]) if len(parts) > 2 else 0


def product_level(db: sqlite3.Connection) -> str:
    """SERVERPROPERTY('ProductLevel'): the service pack whose build the version has reached (a
    cumulative update between two service packs still reports the older one, as SQL Server does)."""
    level = "RTM"
    for first_build, name in SERVICE_PACKS.get(major_minor(db), ()):
        if build(db) >= first_build:
            level = name
    return level


ENGINE_EDITIONS = (
    ("Desktop Engine", "1"),
    ("Personal", "1"),
    ("Express", "4"),
    ("Standard", "2"),
    ("Workgroup", "2"),
    ("Enterprise", "3"),
    ("Developer", "3"),
    ("Evaluation", "3"),
)


def engine_edition(edition: str) -> str:
    """SERVERPROPERTY('EngineEdition'): 1 Personal/Desktop Engine, 2 Standard (Workgroup too),
    3 Enterprise (Developer and Evaluation too), 4 Express."""
    for words, number in ENGINE_EDITIONS:
        if words in edition:
            return number
    return "3"


def server_property(db: sqlite3.Connection, name: object) -> str | None:
    """SERVERPROPERTY(name) from the host's facts, as strings; another name: NULL."""
    if name is None:
        return None
    edition = str(fact(db, "edition"))
    properties = {
        "productversion": lambda: str(fact(db, "product_version")),
        "productlevel": lambda: product_level(db),
        "edition": lambda: edition,
        "engineedition": lambda: engine_edition(edition),
        "servername": lambda: "DSLAB",
        "machinename": lambda: "DSLAB",
        "collation": lambda: str(fact(db, "collation")),
    }
    found = properties.get(str(name).lower())
    return found() if found else None


def version_text(db: sqlite3.Connection) -> str:
    """@@VERSION as SQL Server words it (shapes from Microsoft's KB 321185 and installed servers):
    2008 and 2008 R2 name their level after the product, 2012 only a service pack; a 64-bit
    edition says (X64)."""
    version = fact(db, "product_version")
    major, minor = major_minor(db)
    product = PRODUCTS.get((major, minor), "")
    level = product_level(db)
    if major == 10 or (major > 10 and level != "RTM"):
        product = f"{product} ({level})"
    edition = str(fact(db, "edition"))
    cpu = "X64" if "64-bit" in edition else "Intel X86"
    copyright_years = {8: "1988-2003 ", 9: "1988-2005 ", 10: "1988-2008 "}.get(major, "") if minor == 0 else ""
    return (
        f"Microsoft SQL Server {' ' if major == 8 else ''}{product} - {version} ({cpu}) \n\t"
        f"Copyright (c) {copyright_years}Microsoft Corporation\n\t"
        f"{edition} on Windows NT 5.2 (Build 3790: Service Pack 2) (DS lab: a T-SQL subset on SQLite)\n"
    )


def has_catalog_views(db: sqlite3.Connection) -> bool:
    """sys.* views exist from SQL Server 2005 (9.00) on."""
    return major_minor(db)[0] >= 9
