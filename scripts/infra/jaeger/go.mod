// Wrapper module used only to build the Jaeger v2 all-in-one binary
// (scripts/jaeger.sh). `go install github.com/jaegertracing/jaeger/cmd/jaeger@v`
// refuses because jaeger's go.mod has replace directives, so we require it
// here, copy its replace directives, and `go build` the command package.
module highgopress.local/infra/jaeger

go 1.24.6

require github.com/jaegertracing/jaeger v1.76.0

// Copied from github.com/jaegertracing/jaeger@v1.76.0 go.mod.
replace github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0

tool github.com/jaegertracing/jaeger/cmd/jaeger
