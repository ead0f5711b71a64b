# First version of the sidecar image: a static musl binary on an empty base,
# running as a non-root user with its store on a volume.
# (The health check subcommand and the size/scratch test come with the
# sidecar issue.)

FROM rust:1-alpine AS build
# ring, SQLite and zstd compile C code.
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY templates ./templates
COPY static ./static
RUN cargo build --release --locked \
 && mkdir -p /out/data \
 && cp target/release/letterbox /out/letterbox

FROM scratch
COPY --from=build /out/letterbox /letterbox
COPY --from=build --chown=65532:65532 /out/data /data
ENV LETTERBOX_SMTP=0.0.0.0:1025 \
    LETTERBOX_HTTP=0.0.0.0:8025 \
    LETTERBOX_DB=/data/letterbox.db
USER 65532:65532
VOLUME /data
EXPOSE 1025 8025
ENTRYPOINT ["/letterbox"]
