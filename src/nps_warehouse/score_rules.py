"""The project's own dbt-score rules (metadata lint), next to dbt-score's generic ones.

Enabled through `[tool.dbt-score] rule_namespaces` in pyproject.toml.
"""

from pathlib import Path

import yaml
from dbt_score import Model, RuleViolation, Seed, rule

REPO = Path(__file__).resolve().parents[2]

# Folder under models/ -> (required name prefix, required materialisation).
LAYERS = {
    "staging": ("stg_", "view"),
    "intermediate": ("int_", None),
    "marts": ("", "table"),
}
LAYER_PREFIXES = ("stg_", "int_")


def _layer(model: Model) -> str | None:
    parts = model.original_file_path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "models" else None


def _fact_view_of(model: Model) -> Model | None:
    """The one model a fact mart selects from, when `model` is a mart view of one model."""
    parents = [parent for parent in model.parents if isinstance(parent, Model)]
    is_view = model.config.get("materialized") == "view"
    return parents[0] if _layer(model) == "marts" and is_view and len(parents) == 1 else None


@rule
def has_primary_key_test(model: Model) -> RuleViolation | None:
    """A model has a primary key: a column tested unique and not null (not_null_columns), or a
    unique combination. A fact mart (a view of one model's rows) has the primary key tested on
    that model."""
    model = _fact_view_of(model) or model
    not_null = {
        column
        for test in model.tests
        if test.type == "not_null_columns"
        for column in test.kwargs["columns"]
    }
    for column in model.columns:
        if column.name in not_null and "unique" in {test.type for test in column.tests}:
            return None
    if any(test.type == "unique_combination_of_columns" for test in model.tests):
        return None
    return RuleViolation(
        "No primary key test: unique + not_null_columns or unique_combination_of_columns."
    )


@rule
def name_and_materialisation_match_layer(model: Model) -> RuleViolation | None:
    """Names and materialisations follow the layer: stg_ views (stg_*_checked tables, or
    incremental where the raw table is large), int_, mart tables (fact marts: views of one
    model)."""
    layer = _layer(model)
    if layer not in LAYERS:
        return RuleViolation(f"Model lives outside models/{{{', '.join(LAYERS)}}}.")
    prefix, materialized = LAYERS[layer]
    if prefix and not model.name.startswith(prefix):
        return RuleViolation(f"A {layer} model's name starts with {prefix}.")
    if not prefix and model.name.startswith(LAYER_PREFIXES):
        return RuleViolation(f"A {layer} model's name carries no layer prefix.")
    if _fact_view_of(model) is not None:
        # a fact mart: a view of one model's stored rows (the serving file stores it as a table)
        return None
    # the staging model that judges every raw row is stored once
    allowed = {"table", "incremental"} if model.name.endswith("_checked") else {materialized}
    if materialized and model.config.get("materialized") not in allowed:
        expected = " or ".join(sorted(allowed))
        return RuleViolation(f"A {layer} model is materialised as a {expected}.")
    return None


@rule
def mart_has_enforced_contract(model: Model) -> RuleViolation | None:
    """A mart, read by BI tools, enforces its contract (column names and types)."""
    if _layer(model) == "marts" and not model.config.get("contract", {}).get("enforced"):
        return RuleViolation("Mart without an enforced contract.")
    return None


@rule
def seed_is_a_raw_table(seed: Seed) -> RuleViolation | None:
    """Seeds are raw tables: named raw_ and loaded into the raw schema."""
    if not seed.name.startswith("raw_") or seed.schema != "raw":
        return RuleViolation("A seed is named raw_<table> and lives in schema raw.")
    return None


@rule
def branches_on_is_incremental_only_when_incremental(model: Model) -> RuleViolation | None:
    """A model that branches on is_incremental() is incremental (this replaces dbt-score's
    has_no_unused_is_incremental). The exception: the models a refresh builds incrementally
    from the raw store, which the demo's `dbt build` builds as tables (dbt seed gives every raw
    row a new load time on every build); they are the tables of var audited_stamps in
    dbt_project.yml, whose row-level tests a refresh scopes to the rows it wrote."""
    refresh_incremental = yaml.safe_load((REPO / "dbt_project.yml").read_text())["vars"][
        "audited_stamps"
    ]
    if (
        "is_incremental()" in model.raw_code
        and model.config.get("materialized") != "incremental"
        and model.name not in refresh_incremental
    ):
        return RuleViolation("A model that is not incremental branches on is_incremental().")
    return None
