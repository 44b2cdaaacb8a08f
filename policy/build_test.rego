package repro.build_test

import data.repro.testlib
import rego.v1

df(instructions) := testlib.dockerfile(instructions, testlib.final({}))

add(value, flags) := testlib.ins("add", 4, {"Value": value, "flags": flags})

test_add_001_url_without_checksum_is_reported := {
	"input": df([add(["https://example.com/a.tgz", "/a"], {})]),
	"expect": ["REPRO-ADD-001"],
}

test_add_001_url_with_checksum_passes := {
	"input": df([add(["https://example.com/a.tgz", "/a"], {"checksum": "sha256:00"})]),
	"expect_not": ["REPRO-ADD-001", "REPRO-ADD-002"],
}

test_add_002_local_file_is_reported := {"input": df([add(["app", "/app"], {})]), "expect": ["REPRO-ADD-002"]}

test_add_002_local_archive_passes := {"input": df([add(["rootfs.tar.gz", "/"], {})]), "expect_not": ["REPRO-ADD-002"]}

test_apt_001_install_with_recommends_is_reported := {
	"input": df([testlib.run(5, [["apt-get", "install", "-y", "curl=1"]])]),
	"expect": ["REPRO-APT-001"],
}

test_apt_001_no_install_recommends_passes := {
	"input": df([testlib.run(5, [["apt-get", "install", "-y", "--no-install-recommends", "curl=1"]])]),
	"expect_not": ["REPRO-APT-001"],
}

test_apt_002_lists_left_are_reported := {
	"input": df([testlib.run(5, [["apt-get", "update"], ["apt-get", "install", "curl"]])]),
	"expect": ["REPRO-APT-002"],
}

test_apt_002_lists_removed_pass := {
	"input": df([testlib.run(5, [["apt-get", "update"], ["rm", "-rf", "/var/lib/apt/lists/*"]])]),
	"expect_not": ["REPRO-APT-002"],
}

test_apt_002_build_stage_passes := {
	"input": df([testlib.ins("run", 5, {"Stage": 1, "commands": [["apt-get", "update"]]})]),
	"expect_not": ["REPRO-APT-002"],
}

test_apt_002_cache_mount_passes := {
	"input": df([testlib.ins("run", 5, {"commands": [["apt-get", "update"]], "mounts": [{"type": "cache", "target": "/var/lib/apt/lists"}]})]),
	"expect_not": ["REPRO-APT-002"],
}

test_run_001_sudo_is_reported := {"input": df([testlib.run(5, [["sudo", "make", "install"]])]), "expect": ["REPRO-RUN-001"]}

test_run_001_no_sudo_passes := {"input": df([testlib.run(5, [["make", "install"]])]), "expect_not": ["REPRO-RUN-001"]}

test_ver_001_unpinned_apt_is_reported := {
	"input": df([testlib.run(5, [["apt-get", "-o", "Acquire::Retries=3", "install", "-y", "curl"]])]),
	"expect": ["REPRO-VER-001"],
}

test_ver_001_pinned_apt_passes := {
	"input": df([testlib.run(5, [["apt-get", "-o", "Acquire::Retries=3", "install", "-y", "curl=7.88.1-10"]])]),
	"expect_not": ["REPRO-VER-001"],
}

test_ver_002_unpinned_apk_is_reported := {"input": df([testlib.run(5, [["apk", "add", "--no-cache", "curl"]])]), "expect": ["REPRO-VER-002"]}

test_ver_002_pinned_apk_passes := {
	"input": df([testlib.run(5, [["apk", "add", "--virtual", ".deps", "curl=8.5.0-r0"]])]),
	"expect_not": ["REPRO-VER-002"],
}

test_ver_003_unpinned_pip_is_reported := {"input": df([testlib.run(5, [["pip", "install", "requests"]])]), "expect": ["REPRO-VER-003"]}

test_ver_003_pinned_pip_and_requirements_pass := {
	"input": df([testlib.run(5, [["python3", "-m", "pip", "install", "requests==2.32.3", "-r", "requirements.txt", "."]])]),
	"expect_not": ["REPRO-VER-003"],
}

test_ver_004_unpinned_npm_is_reported := {"input": df([testlib.run(5, [["npm", "install", "-g", "left-pad"]])]), "expect": ["REPRO-VER-004"]}

test_ver_004_pinned_npm_and_ci_pass := {
	"input": df([testlib.run(5, [["npm", "install", "-g", "@scope/tool@1.2.3"], ["npm", "ci"]])]),
	"expect_not": ["REPRO-VER-004"],
}
