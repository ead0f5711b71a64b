# The sidecar image: one static binary on an empty base, running as a
# non-root user, with its store on a volume.
#
#   docker build -t letterbox .
#   docker run -p 1025:1025 -p 8025:8025 -v letterbox-data:/data letterbox
#
# The binary is built exactly as .ci/run builds the one that
# tests/container.rs runs in an empty root as uid 65532, the way this image
# runs it (linux/amd64).

FROM rust:1-bookworm AS build
# ring, SQLite and zstd compile C code: musl-gcc comes with musl-tools.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --locked --profile dist --target x86_64-unknown-linux-musl \
 && mkdir -p /out/data /out/tmp \
 && chmod 1777 /out/tmp \
 && cp target/x86_64-unknown-linux-musl/dist/letterbox /out/letterbox

FROM scratch
COPY --from=build /out/letterbox /letterbox
# The store's volume belongs to the user the server runs as; /tmp is where
# `--db :memory:` keeps its throw-away database.
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build /out/tmp /tmp
# Inside a container, listen on every interface (the defaults are loopback).
ENV LETTERBOX_SMTP=0.0.0.0:1025 \
    LETTERBOX_HTTP=0.0.0.0:8025 \
    LETTERBOX_DB=/data/letterbox.db
USER 65532:65532
VOLUME /data
EXPOSE 1025 8025
# `letterbox healthcheck` reads the same variables to find the server.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --start-interval=1s \
    CMD ["/letterbox", "healthcheck"]
ENTRYPOINT ["/letterbox"]
