"""`sch` against an independent JSON Schema validator (the `jsonschema` package, draft-07).

Every sample of every schema below validates against the schema's own
export, and on generated JSON data `sch.validate` and `jsonschema` agree on
what is valid. The schemas and sch itself run on the fast tier, called
from here with Python values (ilusm values are Python values).
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stage0.fast.vm import FastVM
from stage0.seedc.driver import compile_file

SCHEMAS = """\
use sch
m = sch
schemas = [
    sch.int({min: -5, max: 10}),
    sch.num({min: 0.5}),
    sch.str({min_len: 1, max_len: 3}),
    sch.str({pattern: "[a-c]+", ex: "abc"}),
    sch.bool(),
    sch.null(),
    sch.any(),
    sch.list(sch.int(nil), {min_len: 1, max_len: 4}),
    sch.one_of([1, "a", nil]),
    sch.union([sch.int({min: 3}), sch.str(nil)]),
    sch.obj({a: sch.int(nil), b: sch.opt(sch.str({min_len: 2}))}),
    sch.obj({user: sch.obj({name: sch.str({min_len: 1}), tags: sch.list(sch.str(nil), nil)}),
             n: sch.opt(sch.num({max: 100}))}),
]
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The sch module object, the schemas and the VM that runs them."""
    path = tmp_path_factory.mktemp("sch") / "schemas.ilu"
    path.write_text(SCHEMAS)
    vm = FastVM(compile_file(path), out=io.StringIO())
    exports = vm.run_main()
    return {"vm": vm, "sch": exports["m"], "schemas": exports["schemas"]}


def call(env: dict[str, Any], name: str, *args: Any) -> Any:
    return env["vm"].call(env["sch"][name], list(args))


def exported(env: dict[str, Any], s: Any) -> dict[str, Any]:
    schema = call(env, "to_json_schema", s)
    jsonschema.Draft7Validator.check_schema(schema)
    return schema  # type: ignore[no-any-return]


def test_every_sample_validates_against_its_own_export(env: dict[str, Any]) -> None:
    for s in env["schemas"]:
        sample = call(env, "sample", s)
        assert call(env, "validate", s, sample)["ok"], (s, sample)
        jsonschema.validate(sample, exported(env, s), cls=jsonschema.Draft7Validator)


def test_export_shape(env: dict[str, Any]) -> None:
    s = exported(env, env["schemas"][10])
    assert s == {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                 "properties": {"a": {"type": "integer"}, "b": {"type": "string", "minLength": 2}},
                 "required": ["a"]}
    assert exported(env, env["schemas"][3])["pattern"] == "^(?:[a-c]+)$"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-20, 200) | st.floats(-10, 200, allow_nan=False)
    | st.text("abcxyz@", max_size=5),
    lambda kids: st.lists(kids, max_size=5)
    | st.dictionaries(st.sampled_from(["a", "b", "n", "user", "name", "tags", "z"]), kids, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(data=json_values, which=st.integers(0, 11))
def test_validate_agrees_with_jsonschema(env: dict[str, Any], data: Any, which: int) -> None:
    s = env["schemas"][which]
    ours = call(env, "validate", s, data)["ok"]
    theirs = jsonschema.Draft7Validator(exported(env, s)).is_valid(data)
    assert ours == theirs, (s, data, call(env, "validate", s, data)["errors"])


def test_spec_programs_exist() -> None:
    assert len(list((Path(__file__).parent / "spec" / "stdlib_sch").glob("*.ilu"))) >= 3
