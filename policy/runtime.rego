# How the image runs: not as root, exec-form CMD/ENTRYPOINT, and for services EXPOSE and
# HEALTHCHECK.
package repro.runtime

import data.repro.lib
import rego.v1

rules := {
	"REPRO-USER-001": {
		"title": "Image runs as root",
		"severity": "error",
		"fix": "add 'USER <name or uid>' (not root or 0) at the end of the final stage",
		"hadolint": "DL3002",
		"stage": "lint",
	},
	"REPRO-CMD-001": {
		"title": "CMD or ENTRYPOINT in shell form",
		"severity": "warning",
		"fix": "write it in exec form, CMD [\"program\", \"arg\"], so the program gets signals as PID 1",
		"hadolint": "DL3025",
		"stage": "lint",
	},
	"REPRO-NET-001": {
		"title": "Service without EXPOSE",
		"severity": "note",
		"fix": "declare the port the service listens on with EXPOSE",
		"hadolint": null,
		"stage": "lint",
	},
	"REPRO-HEALTH-001": {
		"title": "Service without HEALTHCHECK",
		"severity": "warning",
		"fix": "add a HEALTHCHECK that probes the service (or HEALTHCHECK NONE to say there is none on purpose)",
		"hadolint": null,
		"stage": "lint",
	},
}

# --- user ---------------------------------------------------------------------------

root_user(user) if {
	name := split(user, ":")[0]
	name in {"", "root", "0"}
}

# From the Dockerfile when no image is known (the lint stage).
findings contains f if {
	lib.no_image
	final := input.dockerfile.final
	final.user == null
	f := lib.finding(
		rules, "REPRO-USER-001",
		"the final stage sets no USER: the container runs as root unless the base image says otherwise",
		{"file": input.dockerfile.file, "line": final.line},
	)
}

findings contains f if {
	lib.no_image
	user := input.dockerfile.final.user
	root_user(user.name)
	f := lib.finding(rules, "REPRO-USER-001", sprintf("the image runs as root (USER %v)", [user.name]), user)
}

# From the image's configuration when it is known (the release stage): it is what runs.
findings contains f if {
	root_user(input.image.config.user)
	f := lib.finding(
		rules, "REPRO-USER-001",
		sprintf("the image runs as root (config user '%v')", [input.image.config.user]),
		lib.image_location,
	)
}

# --- exec form ----------------------------------------------------------------------

findings contains f if {
	some key in ["entrypoint", "cmd"]
	command := input.dockerfile.final[key]
	command.form == "shell"
	f := lib.finding(
		rules, "REPRO-CMD-001",
		concat("", [upper(key), " is in shell form: /bin/sh -c runs as PID 1 and the program never sees SIGTERM"]),
		command,
	)
}

# --- services -----------------------------------------------------------------------

# Programs that listen on a port when they are the image's command.
servers := {
	"nginx", "httpd", "apache2", "apache2ctl", "caddy", "haproxy", "envoy", "traefik", "lighttpd",
	"gunicorn", "uvicorn", "hypercorn", "daphne", "uwsgi", "waitress-serve", "flask", "puma",
	"unicorn", "rails", "php-fpm", "php-fpm8", "redis-server", "memcached", "postgres",
	"mysqld", "mariadbd", "mongod", "rabbitmq-server", "sshd", "vsftpd", "named", "dnsmasq",
	"grafana-server", "prometheus", "consul", "vault", "nats-server", "minio", "registry",
	"serve", "http-server", "tomcat", "catalina.sh", "jetty", "kestrel", "node-red",
}

# Words that say "I listen": "--port 80", "--bind=0.0.0.0:80", "python -m http.server".
listening_word(word) if regex.match(`^(--port|--listen|--bind|--host|-p|-b)(=.*)?$`, word)

listening_word(word) if word in {"http.server", "runserver", "server.js", "app.js", "main.js"}

command_words contains word if {
	some key in ["entrypoint", "cmd"]
	some word in input.dockerfile.final[key].argv
}

is_service if {
	some word in command_words
	parts := split(word, "/")
	parts[count(parts) - 1] in servers
}

is_service if {
	some word in command_words
	listening_word(word)
}

is_service if count(object.get(input.dockerfile.final, "expose", [])) > 0

exposes if count(input.dockerfile.final.expose) > 0

exposes if count(object.get(input.image.config, "exposed_ports", [])) > 0

findings contains f if {
	is_service
	not exposes
	f := lib.finding(
		rules, "REPRO-NET-001",
		"the image looks like a service (its command listens) but declares no port with EXPOSE",
		lib.image_location,
	)
}

has_healthcheck if input.dockerfile.final.healthcheck != null

has_healthcheck if input.image.config.healthcheck != null

findings contains f if {
	is_service
	not has_healthcheck
	f := lib.finding(rules, "REPRO-HEALTH-001", "the image looks like a service but has no HEALTHCHECK", lib.image_location)
}
