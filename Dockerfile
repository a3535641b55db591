# sparkevents as a static binary on distroless (CA certificates, tzdata,
# a non-root user, no shell).
#
#   docker build -t sparkevents .          # from a git checkout: .git stamps the revision
#   docker run --rm sparkevents version
#
# CI (.ci/run) cannot run docker on its machines: it runs the build command
# below as it is written here (the line between "ci-build" markers) and runs
# the binary from an empty root holding only it and the CA certificates, so
# keep the two in step.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# ci-build
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=auto -tags timetzdata -ldflags='-s -w' -o /out/sparkevents .
# ci-build

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sparkevents /usr/local/bin/sparkevents
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/sparkevents"]
CMD ["--help"]
