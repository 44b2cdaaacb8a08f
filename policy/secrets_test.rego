package repro.secrets_test

import data.repro.testlib
import rego.v1

env(name, value, over) := testlib.ins("env", 3, {"vars": [object.union(
	{"name": name, "value": value, "secret_name": false, "secret_value": null},
	over,
)]})

arg(name, value, secret) := testlib.ins("arg", 2, {"vars": [{"name": name, "value": value, "secret_name": secret, "secret_value": null}]})

test_secret_001_env_secret_is_reported := {
	"input": testlib.dockerfile([env("API_TOKEN", "abc", {"secret_name": true})], testlib.final({})),
	"expect": ["REPRO-SECRET-001"],
}

test_secret_001_env_secret_without_value_passes := {
	"input": testlib.dockerfile([env("API_TOKEN", "", {"secret_name": true})], testlib.final({})),
	"expect_not": ["REPRO-SECRET-001"],
}

test_secret_001_credential_format_in_any_value_is_reported := {
	"input": testlib.dockerfile([env("NOTE", "x", {"secret_value": "AWS access key id"})], testlib.final({})),
	"expect": ["REPRO-SECRET-001"],
}

test_secret_001_arg_default_is_reported := {
	"input": testlib.dockerfile([arg("DB_PASSWORD", "hunter2", true)], testlib.final({})),
	"expect": ["REPRO-SECRET-001"],
}

test_secret_001_plain_env_passes := {
	"input": testlib.dockerfile([env("PATH", "/usr/bin", {})], testlib.final({})),
	"expect_not": ["REPRO-SECRET-001", "REPRO-SECRET-002"],
}

test_secret_002_arg_without_default_is_reported := {
	"input": testlib.dockerfile([arg("NPM_TOKEN", null, true)], testlib.final({})),
	"expect": ["REPRO-SECRET-002"],
	"expect_not": ["REPRO-SECRET-001"],
}

test_secret_002_plain_arg_passes := {
	"input": testlib.dockerfile([arg("VERSION", null, false)], testlib.final({})),
	"expect_not": ["REPRO-SECRET-002"],
}

test_secret_003_key_in_files_is_reported := {
	"input": testlib.release({"files": {"scanned": 3, "findings": [{"kind": "private-key", "path": "root/.ssh/id_rsa", "detail": "private key", "layer": 1}]}}),
	"expect": ["REPRO-SECRET-003"],
}

test_secret_003_clean_files_pass := {"input": testlib.release({}), "expect_not": ["REPRO-SECRET-003"]}

build_args(args) := testlib.release({"image": object.union(testlib.release({}).image, {"build_args": args})})

test_secret_004_secret_build_arg_in_the_config_is_an_error := {
	"input": build_args([{"name": "MY_PASS", "secret": "its name says it holds a secret", "in_config": true}]),
	"expect": ["REPRO-SECRET-004"],
}

test_secret_004_secret_build_arg_not_in_the_config_passes := {
	"input": build_args([{"name": "MY_PASS", "secret": "its name says it holds a secret", "in_config": false}]),
	"expect_not": ["REPRO-SECRET-004"],
}

test_secret_004_plain_build_arg_in_the_config_passes := {
	"input": build_args([{"name": "VERSION", "secret": null, "in_config": true}]),
	"expect_not": ["REPRO-SECRET-004"],
}

test_secret_004_lint_stage_without_an_image_passes := {
	"input": testlib.dockerfile([], testlib.final({})),
	"expect_not": ["REPRO-SECRET-004"],
}
