FROM alpine:3.20
ENTRYPOINT ["/bin/sh", "-c", "echo \"quoted\" \\ \u00e9"]
CMD [ "a",
RUN ['single', 'quotes']
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY ["src dir/", "/dest dir/"]
VOLUME ["/data"]
HEALTHCHECK --interval=30s CMD ["curl", "-f", "http://localhost/"]
CMD []
