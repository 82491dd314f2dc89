"""Predicate pushdown into governed relations: only harmless predicates move, results never
change, and a pushed predicate is applied after the policy, inside the relation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from lakemesh.query import Plan, plan_query
from tests.test_query_rewrite import (
    KEY,
    PEOPLE,
    PRINCIPAL,
    TYPES,
    Policy,
    install,
    mask,
    permit,
    raw_db,
    resolve,
)


def policy() -> Policy:
    """Rows of 'apac' hidden, ssn masked."""
    return Policy(
        people=(
            [permit("id name ssn region", "\"region\" <> 'apac'")],
            {"ssn": mask(PEOPLE, "ssn", "redact")},
        ),
        orders=([permit("id person_id amount ssn_ref")], {}),
    )


def planned(sql: str, push: bool) -> Plan:
    return plan_query(
        sql,
        principal=PRINCIPAL,
        decide=policy().decide,
        resolve=resolve,
        column_types=lambda t: TYPES[t],
        hash_key=KEY,
        push_predicates=push,
    )


def pushed(sql: str) -> list[str]:
    """The WHERE clauses of the relations the pushed plan reads."""
    out = []
    for relation in planned(sql, True).relations:
        where = relation.select.args.get("where")
        out.append(where.this.sql("duckdb") if where is not None else "")
    return out


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = raw_db()
    yield c
    c.close()


def run(con: duckdb.DuckDBPyConnection, p: Plan) -> list[tuple[Any, ...]]:
    for relation in p.relations:
        install(con, relation)
    return sorted(con.execute(p.sql.sql("duckdb")).fetchall(), key=repr)


QUERIES = [
    "SELECT id, name FROM people WHERE id > 1",
    "SELECT id FROM people WHERE name IN ('ann', 'dan') OR id BETWEEN 2 AND 3",
    "SELECT id FROM people p WHERE p.region = 'apac'",
    "SELECT id FROM people WHERE ssn = '****' AND id < 3",
    "SELECT p.id, o.amount FROM people p JOIN orders o ON o.person_id = p.id "
    "WHERE p.id >= 2 AND o.amount < 400",
    "SELECT p.id, o.amount FROM people p LEFT JOIN orders o ON o.person_id = p.id "
    "WHERE o.amount IS NULL OR o.amount > 100",
    "SELECT a.id, b.id AS other FROM people a JOIN people b ON a.id < b.id "
    "WHERE a.id = 1 AND b.name <> 'cyd'",
    "SELECT id FROM people WHERE id IN (SELECT person_id FROM orders WHERE amount > 150)",
    "SELECT id * 10 AS id FROM people WHERE id = 3",
    "WITH x AS (SELECT id, region FROM people WHERE region = 'eu') SELECT id FROM x WHERE id > 1",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_pushing_never_changes_the_answer(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    assert run(con, planned(sql, True)) == run(con, planned(sql, False))


def test_harmless_conjuncts_move_into_their_relation() -> None:
    [where] = pushed("SELECT id FROM people WHERE id > 1 AND name = 'ann'")
    assert where == (
        '"__lm_source"."region" <> \'apac\' AND "__lm_source"."id" > 1 '
        'AND "__lm_source"."name" = \'ann\''
    )


@pytest.mark.parametrize(
    "condition",
    [
        "ssn = '****'",  # masked: the relation shows a mask, not the column
        "CAST(name AS INT) = 1",  # a cast of a column value can fail
        "id = '1'",  # would cast the column to compare
        "name = 1",
        "id = 1.5",  # integer column, decimal literal
        "name LIKE 'a%'",  # patterns are not on the list
        "length(name) = 3",
        "id + 1 = 2",
        "id = -1",  # a negation is an expression, not a literal
        "region = name",
        "id IN (SELECT 1)",
    ],
)
def test_anything_that_could_fail_or_see_through_a_mask_stays(condition: str) -> None:
    assert pushed(f"SELECT id FROM people WHERE {condition}") == [
        '"__lm_source"."region" <> \'apac\''
    ]


def test_nullable_side_of_an_outer_join_is_not_filtered_early() -> None:
    wheres = pushed(
        "SELECT p.id FROM people p LEFT JOIN orders o ON o.person_id = p.id "
        "WHERE o.amount > 1 AND p.id > 1"
    )
    assert sorted(wheres) == ["", '"__lm_source"."region" <> \'apac\' AND "__lm_source"."id" > 1']
    # a right join makes the FROM side nullable too
    wheres = pushed(
        "SELECT p.id FROM people p RIGHT JOIN orders o ON o.person_id = p.id WHERE p.id > 1"
    )
    assert sorted(wheres) == ["", '"__lm_source"."region" <> \'apac\'']


def test_each_side_of_a_self_join_gets_its_own_relation() -> None:
    p = planned(
        "SELECT a.id FROM people a JOIN people b ON a.id = b.id WHERE a.id = 1 AND b.id = 2", True
    )
    assert len(p.relations) == 2 and len({r.alias for r in p.relations}) == 2
    assert {r.table for r in p.relations} == {PEOPLE}


def test_unqualified_columns_only_with_one_source_and_no_alias_clash() -> None:
    assert pushed("SELECT id * 10 AS id FROM people WHERE id = 3") == [
        '"__lm_source"."region" <> \'apac\''
    ]
    # a correlated column of the outer query is not the subquery's to push
    p = planned(
        "SELECT id FROM people p WHERE EXISTS (SELECT 1 FROM orders o WHERE o.person_id = p.id "
        "AND o.amount > 100)",
        True,
    )
    orders = [r for r in p.relations if r.table != PEOPLE]
    assert [r.select.args["where"].this.sql("duckdb") for r in orders] == [
        '"__lm_source"."amount" > 100'
    ]


def test_the_shared_policy_select_is_never_modified() -> None:
    sql = "SELECT id FROM people WHERE id > 1"
    before = planned(sql, False).relations[0].select.sql("duckdb")
    planned(sql, True)
    assert planned(sql, False).relations[0].select.sql("duckdb") == before
