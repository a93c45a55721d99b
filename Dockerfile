# The hsmnode image for those who can pull base images (the same image
# `make image` assembles offline from this machine's packages).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=1 go build -o /hsmnode ./cmd/hsmnode

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends softhsm2 && rm -rf /var/lib/apt/lists/*
COPY --from=build /hsmnode /usr/local/bin/hsmnode
EXPOSE 2225
ENTRYPOINT ["/usr/local/bin/hsmnode"]
CMD ["--data-dir", "/data", "--listen", "0.0.0.0:2225"]
