package repro.runtime_test

import data.repro.testlib
import rego.v1

nginx_cmd := {"form": "exec", "argv": ["nginx", "-g", "daemon off;"], "file": "Dockerfile", "line": 5}

test_user_001_no_user_is_reported := {
	"input": testlib.dockerfile([], testlib.final({"user": null})),
	"expect": ["REPRO-USER-001"],
}

test_user_001_root_and_uid_0_are_reported := {
	"input": testlib.dockerfile([], testlib.final({"user": {"name": "0:0", "file": "Dockerfile", "line": 3}})),
	"expect": ["REPRO-USER-001"],
}

test_user_001_named_user_passes := {"input": testlib.dockerfile([], testlib.final({})), "expect_not": ["REPRO-USER-001"]}

test_user_001_release_reads_the_image_config := {
	"input": testlib.release({"image": {"config": {"user": "root"}}}),
	"expect": ["REPRO-USER-001"],
}

test_user_001_release_non_root_passes := {"input": testlib.release({}), "expect_not": ["REPRO-USER-001"]}

test_cmd_001_shell_form_is_reported := {
	"input": testlib.dockerfile([], testlib.final({"cmd": {"form": "shell", "argv": ["node", "app.js"], "file": "Dockerfile", "line": 7}})),
	"expect": ["REPRO-CMD-001"],
}

test_cmd_001_exec_form_passes := {
	"input": testlib.dockerfile([], testlib.final({"entrypoint": nginx_cmd})),
	"expect_not": ["REPRO-CMD-001"],
}

test_net_001_service_without_expose_is_reported := {
	"input": testlib.dockerfile([], testlib.final({"cmd": nginx_cmd})),
	"expect": ["REPRO-NET-001"],
}

test_net_001_listen_flag_counts_as_a_service := {
	"input": testlib.dockerfile([], testlib.final({"cmd": {"form": "exec", "argv": ["/app", "--port=8080"], "line": 4}})),
	"expect": ["REPRO-NET-001"],
}

test_net_001_service_with_expose_passes := {
	"input": testlib.dockerfile([], testlib.final({"cmd": nginx_cmd, "expose": [{"port": "80", "line": 4}]})),
	"expect_not": ["REPRO-NET-001"],
}

test_net_001_batch_job_passes := {
	"input": testlib.dockerfile([], testlib.final({"cmd": {"form": "exec", "argv": ["/usr/bin/backup"], "line": 4}})),
	"expect_not": ["REPRO-NET-001", "REPRO-HEALTH-001"],
}

test_health_001_service_without_healthcheck_is_reported := {
	"input": testlib.dockerfile([], testlib.final({"cmd": nginx_cmd, "expose": [{"port": "80", "line": 4}]})),
	"expect": ["REPRO-HEALTH-001"],
}

test_health_001_service_with_healthcheck_passes := {
	"input": testlib.dockerfile([], testlib.final({"cmd": nginx_cmd, "healthcheck": {"none": false, "line": 6}})),
	"expect_not": ["REPRO-HEALTH-001"],
}
