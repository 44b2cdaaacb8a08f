FROM golang:1.22 AS Build
RUN go build -o /out/app ./...
FROM scratch
COPY --from=0 /out/app /app
COPY --from=BUILD /out/app /app2
COPY --from=nginx:1.27 /etc/nginx/nginx.conf /etc/
COPY --from="quay.io/prometheus/busybox:latest" /bin/sh /bin/sh
FROM build AS test
COPY --from=1 /app /app
