# syntax=docker/dockerfile:1
FROM alpine:3.20
RUN <<EOF
set -e
echo "$HOME"
EOF
RUN <<-'INDENTED' sh
	echo tabs stripped
		INDENTED
RUN cat <<FIRST >/first; cat <<"SECOND" >/second
one
FIRST
two $NOT_EXPANDED
SECOND
COPY <<CONF /etc/app.conf
key=value
CONF
ADD <<EMPTY /empty
EMPTY
RUN 3<<DATA cat <&3
fd three
DATA
RUN python3 <<PY \
    --version
print("continued marker line")
PY
CMD <<NOT_A_HEREDOC
