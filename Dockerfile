# Mesh node image: a static binary on a small Debian base, run as a non-root
# user, state in the /mesh volume, the one PTP port 7304.
#
#   docker build -t mesh --build-arg VERSION=$(git describe --tags --always --dirty) \
#       --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
#   docker run -d -p 7304:7304 mesh
#
# See docs/deploy.md (admission of callers from the Docker bridge, tokens,
# Kubernetes, systemd).

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# A build context has no .git: the version and date come in as build args
# (mesh version prints them; a Git build reads its commit instead).
ARG VERSION=devel
ARG DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION} -X main.date=${DATE}" -o /out/mesh ./cmd/mesh

# debian:bookworm-slim rather than a distroless image: it comes from the
# default registry with no other to trust, and it has a shell and apt for
# an operator debugging a node in place; the binary is static either way.
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /mesh --shell /usr/sbin/nologin mesh \
 && mkdir /mesh && chown mesh:mesh /mesh && chmod 0700 /mesh
# Root certificates, for an https:// OTLP collector or a tls:// NATS cluster.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/mesh /usr/local/bin/mesh
# The node listens on every interface of the container (the port Docker
# publishes); callers from outside the container are not loopback: admit
# them with MESH_CONTAINER_NETS or MESH_CONTAINER_TOKEN (docs/deploy.md).
# No MESH_LISTEN: :7304 is the node's default, and a MESH_LISTEN here would
# shadow the PTP usage guide's PLUGIN_PROXY_TRANSPORT_Y=PORT (docker run -e).
ENV MESH_HOME=/mesh
VOLUME /mesh
EXPOSE 7304
USER mesh
# The binary checks itself: mesh status asks the node on loopback (an
# operator there) and exits 1 unless it is ready. A node on another port
# (MESH_LISTEN, PLUGIN_PROXY_TRANSPORT_Y) needs MESH_ADDRESS=127.0.0.1:PORT too.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["mesh", "status"]
ENTRYPOINT ["mesh", "start"]
