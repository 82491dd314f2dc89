"""The query benchmarks' fixture: generated orders in place, a governed mesh over them.

Data (generated once by DuckDB, kept in ``benchmarks/data/orders-v1/`` between runs,
never committed): ``sales.shop.orders``, 24 million rows in 24 monthly Hive partitions
(``month=2024-01`` ...), each file sorted by region then order id, so both the partition
and the row-group statistics let a filter skip data; and ``sales.shop.customers``, one
row per customer.

Policy, as a producer would set it: the ``analytics`` domain may read orders of the
``emea`` and ``amer`` regions only (``apac`` rows are hidden), ``email`` is hashed with
the mesh key and ``iban`` shows its last four characters; the analytics admin delegates
that grant to ``analyst@analytics``. Customers are shared unfiltered with ``email``
hashed too, so a join on the masked key still matches.

``handwritten`` holds, per benchmark query, the SQL a careful engineer would write to get
the same answer from the same files with no governance layer: the same filter and the
same mask expressions, directly over ``read_parquet``. A test of the benchmark checks that
both return the same rows.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from benchmarks._common import DATA, log, result, timed
from lakemesh import keys
from lakemesh.access.grants import GrantRequest, parse_actions
from lakemesh.mesh import Mesh

VERSION = "orders-v1"
MONTHS = 24
ROWS_PER_MONTH = 1_000_000
CUSTOMERS = 200_000
ANALYST = "analyst@analytics"
ORDERS = "sales.shop.orders"
CUSTOMERS_TABLE = "sales.shop.customers"
ROW_FILTER = "region IN ('emea', 'amer')"


@dataclass(frozen=True)
class Query:
    name: str
    #: What the consumer sends to ``lakemesh query``.
    governed: str
    #: The same answer by hand: ``{orders}``/``{customers}`` are the raw scans and
    #: ``{email}``/``{iban}``/``{cemail}`` the mask expressions.
    handwritten: str
    #: The same query with no policy at all, on the same files.
    raw: str


QUERIES = (
    Query(
        "revenue_by_region",
        f"SELECT region, count(*) AS n, sum(amount) AS revenue FROM {ORDERS} "
        "GROUP BY region ORDER BY region",
        "SELECT region, count(*) AS n, sum(amount) AS revenue FROM {orders} "
        f"WHERE {ROW_FILTER} GROUP BY region ORDER BY region",
        "SELECT region, count(*) AS n, sum(amount) AS revenue FROM {orders} "
        "GROUP BY region ORDER BY region",
    ),
    Query(
        "top_masked_emails_one_month",
        f"SELECT email, count(*) AS n, sum(amount) AS total FROM {ORDERS} "
        "WHERE month = '2024-03' GROUP BY email ORDER BY total DESC, email LIMIT 10",
        "SELECT {email} AS email, count(*) AS n, sum(amount) AS total FROM {orders} "
        f"WHERE month = '2024-03' AND {ROW_FILTER} GROUP BY 1 ORDER BY total DESC, email "
        "LIMIT 10",
        "SELECT email, count(*) AS n, sum(amount) AS total FROM {orders} "
        "WHERE month = '2024-03' GROUP BY email ORDER BY total DESC, email LIMIT 10",
    ),
    Query(
        "point_lookup",
        f"SELECT order_id, customer_id, email, iban, amount FROM {ORDERS} "
        "WHERE month = '2024-06' AND order_id BETWEEN 5200000 AND 5200100 ORDER BY order_id",
        "SELECT order_id, customer_id, {email} AS email, {iban} AS iban, amount "
        f"FROM {{orders}} WHERE month = '2024-06' AND order_id BETWEEN 5200000 AND 5200100 "
        f"AND {ROW_FILTER} ORDER BY order_id",
        "SELECT order_id, customer_id, email, iban, amount FROM {orders} "
        "WHERE month = '2024-06' AND order_id BETWEEN 5200000 AND 5200100 ORDER BY order_id",
    ),
    Query(
        "join_customers_segment",
        f"SELECT c.segment, count(*) AS n, sum(o.amount) AS revenue FROM {ORDERS} o "
        f"JOIN {CUSTOMERS_TABLE} c ON c.email = o.email "
        "WHERE o.month BETWEEN '2024-01' AND '2024-06' GROUP BY c.segment ORDER BY c.segment",
        "SELECT c.segment, count(*) AS n, sum(o.amount) AS revenue "
        "FROM (SELECT {email} AS email, amount FROM {orders} "
        f"WHERE month BETWEEN '2024-01' AND '2024-06' AND {ROW_FILTER}) o "
        "JOIN (SELECT {cemail} AS email, segment FROM {customers}) c ON c.email = o.email "
        "GROUP BY c.segment ORDER BY c.segment",
        "SELECT c.segment, count(*) AS n, sum(o.amount) AS revenue FROM {orders} o "
        "JOIN {customers} c ON c.email = o.email "
        "WHERE o.month BETWEEN '2024-01' AND '2024-06' GROUP BY c.segment ORDER BY c.segment",
    ),
)


def same_rows(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> bool:
    """Equal rows, floats compared to the cent: parallel sums add in a different order."""

    def rounded(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [tuple(round(v, 2) if isinstance(v, float) else v for v in r.values()) for r in rows]

    return rounded(ours) == rounded(theirs)


def geomean_result(name: str, ratios: list[float], target: float) -> dict[str, Any]:
    """The geometric mean of per-query ratios, as the benchmark's target line."""
    geo = math.prod(ratios) ** (1 / len(ratios))
    return result(
        name, "geomean_ratio", geo, "x", ratio=geo, target=f"<= {target:g}", meets=geo <= target
    )


class OrdersMesh:
    """The generated files and a governed mesh over them (built under ``work``)."""

    def __init__(self, work: Path, *, months: int = MONTHS, rows_per_month: int = ROWS_PER_MONTH):
        self.months = months
        self.rows_per_month = rows_per_month
        self.root = DATA / f"{VERSION}-{months}x{rows_per_month}" / "sales"
        self.home = work / "query-mesh"
        self.mesh: Mesh | None = None

    # ------------------------------------------------------------------ data

    def ensure_data(self) -> None:
        marker = self.root.parent / "COMPLETE"
        if marker.exists():
            return
        shutil.rmtree(self.root.parent, ignore_errors=True)
        seconds, _ = timed(self._generate)
        marker.write_text("ok\n")
        log(f"query fixture: {self.months * self.rows_per_month:,} orders in {seconds:.1f} s")

    def _generate(self) -> None:
        orders = self.root / "shop" / "orders"
        customers = self.root / "shop" / "customers"
        orders.mkdir(parents=True)
        customers.mkdir(parents=True)
        con = duckdb.connect()
        try:
            con.execute("SET threads = 2")
            n = self.rows_per_month
            for m in range(self.months):
                month = f"{2024 + m // 12}-{m % 12 + 1:02d}"
                target = orders / f"month={month}"
                target.mkdir()
                # i is the order id; customers, regions and amounts follow from it.
                con.execute(
                    f"""
                    COPY (
                        SELECT i AS order_id,
                               hash(i) % {CUSTOMERS} AS customer_id,
                               ['emea', 'amer', 'apac'][1 + (hash(i * 7) % 3)::INT] AS region,
                               'customer' || (hash(i) % {CUSTOMERS}) || '@example.com'
                                   AS email,
                               'DE' || lpad(((hash(i) % {CUSTOMERS}) * 7919)::VARCHAR, 20, '0')
                                   AS iban,
                               round((hash(i * 13) % 100000) / 100.0, 2) AS amount
                        FROM range({m * n}, {(m + 1) * n}) t(i)
                        ORDER BY region, order_id
                    ) TO '{target / "part-0.parquet"}' (FORMAT parquet, ROW_GROUP_SIZE 100000)
                    """
                )
            con.execute(
                f"""
                COPY (
                    SELECT c AS customer_id,
                           'customer' || c || '@example.com' AS email,
                           ['retail', 'private', 'corporate', 'sme'][1 + (c % 4)::INT] AS segment
                    FROM range({CUSTOMERS}) t(c)
                ) TO '{customers / "customers.parquet"}' (FORMAT parquet)
                """
            )
        finally:
            con.close()

    # ------------------------------------------------------------------ mesh

    def ensure_mesh(self) -> Mesh:
        if self.mesh is not None:
            return self.mesh
        self.ensure_data()
        shutil.rmtree(self.root / "_lakemesh", ignore_errors=True)
        mesh = Mesh.init(self.home)
        mesh.domains.create("sales", str(self.root), create=True)
        mesh.domains.create(
            "analytics", str(self.home.parent / "analytics"), kind="consumer", create=True
        )
        mesh.domains.crawl("sales")
        mesh.domains.sync()
        for user, role in (
            ("steward@sales", "steward"),
            ("admin@analytics", "admin"),
            (ANALYST, "member"),
        ):
            mesh.access.create_user(user, role)
        mesh.access.mask(column=f"{ORDERS}.email", spec="hash", as_="steward@sales")
        mesh.access.mask(column=f"{ORDERS}.iban", spec="last4", as_="steward@sales")
        mesh.access.mask(column=f"{CUSTOMERS_TABLE}.email", spec="hash", as_="steward@sales")
        select = parse_actions("SELECT")
        mesh.access.grant(
            GrantRequest(
                actions=select,
                principal="analytics",
                table=ORDERS,
                row_filter=ROW_FILTER,
                grantable=True,
            ),
            as_="steward@sales",
        )
        mesh.access.grant(
            GrantRequest(
                actions=select, principal="analytics", table=CUSTOMERS_TABLE, grantable=True
            ),
            as_="steward@sales",
        )
        for table in (ORDERS, CUSTOMERS_TABLE):
            mesh.access.grant(
                GrantRequest(actions=select, principal=ANALYST, table=table),
                as_="admin@analytics",
            )
        self.mesh = mesh
        return mesh

    def close(self) -> None:
        if self.mesh is not None:
            self.mesh.close()
            self.mesh = None

    # ------------------------------------------------------------------ peers

    def files(self, table: str) -> list[str]:
        folder = self.root / "shop" / table
        return sorted(str(p) for p in folder.rglob("*.parquet"))

    def handwritten(self, query: Query) -> str:
        key_hex = keys.mask_hash_key(self.home).hex()
        return query.handwritten.format(
            orders=self._scan("orders"),
            customers=self._scan("customers"),
            email=f"CASE WHEN email IS NULL THEN NULL ELSE sha256('{key_hex}' || email) END",
            cemail=f"CASE WHEN email IS NULL THEN NULL ELSE sha256('{key_hex}' || email) END",
            iban="CASE WHEN iban IS NULL THEN NULL WHEN length(iban) <= 4 THEN '****' "
            "ELSE '****' || right(iban, 4) END",
        )

    def handwritten_spark(self, query: Query, orders: str, customers: str) -> str:
        """The handwritten query in Spark SQL over two views of the raw files."""
        key_hex = keys.mask_hash_key(self.home).hex()
        hashed = f"CASE WHEN email IS NULL THEN NULL ELSE sha2(concat('{key_hex}', email), 256) END"
        return query.handwritten.format(
            orders=orders,
            customers=customers,
            email=hashed,
            cemail=hashed,
            iban="CASE WHEN iban IS NULL THEN NULL WHEN length(iban) <= 4 THEN '****' "
            "ELSE concat('****', right(iban, 4)) END",
        )

    def raw(self, query: Query) -> str:
        return query.raw.format(orders=self._scan("orders"), customers=self._scan("customers"))

    def _scan(self, table: str) -> str:
        files = ", ".join(f"'{f}'" for f in self.files(table))
        hive = "true" if table == "orders" else "false"
        return f"read_parquet([{files}], hive_partitioning = {hive})"
