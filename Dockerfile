# syntax=docker/dockerfile:1
# Passerelle: WhatsApp and Telegram bridge for Matrix.
#   docker build -t passerelle .
#   docker run --rm -v passerelle-data:/data passerelle   # first run writes /data/config.yaml
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -tags goolm -trimpath \
      -ldflags "-X main.Commit=$(git rev-parse HEAD 2>/dev/null || echo unknown) -X 'main.BuildTime=$(date -Iseconds)'" \
      -o /out/passerelle ./cmd/passerelle

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tini ffmpeg \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 1337 --home-dir /data passerelle \
    && mkdir /data && chown passerelle /data
COPY --from=build /out/passerelle /usr/bin/passerelle
COPY <<'SH' /usr/bin/passerelle-start
#!/bin/sh
# First start: write the example config and stop so the operator can edit it.
# Second start: write the registration for the homeserver. Then: run the bridge.
set -e
cd /data
if [ ! -f config.yaml ]; then
  passerelle -e -c config.yaml
  echo "Edit /data/config.yaml (homeserver.address, homeserver.domain, bridge.permissions), then start again."
  exit 0
fi
if [ ! -f registration.yaml ]; then
  passerelle -g -c config.yaml -r registration.yaml
  echo "Give /data/registration.yaml to your homeserver (see README), then start again."
  exit 0
fi
exec passerelle -c config.yaml -r registration.yaml "$@"
SH
RUN chmod 0755 /usr/bin/passerelle-start
USER passerelle
VOLUME /data
WORKDIR /data
EXPOSE 29340
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/bin/passerelle-start"]
