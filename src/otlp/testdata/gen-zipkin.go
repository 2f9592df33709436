//go:build ignore

// Converts OTLP JSON lines files (the Collector file exporter's format) to one Zipkin v2 JSON span
// array, with the Collector's own Zipkin translator (contrib pkg/translator/zipkin zipkinv2, the
// code behind the Collector's zipkin exporter). Usage: go run gen-zipkin.go out.json in.jsonl[.gz]...
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/zipkin/zipkinv2"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func check(err error) {
	if err != nil {
		panic(err)
	}
}

func main() {
	var spans []json.RawMessage
	unmarshaler := &ptrace.JSONUnmarshaler{}
	marshaler := zipkinv2.NewJSONTracesMarshaler()
	for _, path := range os.Args[2:] {
		f, err := os.Open(path)
		check(err)
		var r io.Reader = f
		if gz, err := gzip.NewReader(f); err == nil {
			r = gz
		} else {
			_, err = f.Seek(0, 0)
			check(err)
		}
		scanner := bufio.NewScanner(r)
		scanner.Buffer(make([]byte, 0, 1<<20), 64<<20)
		for scanner.Scan() {
			line := bytes.TrimSpace(scanner.Bytes())
			if len(line) == 0 {
				continue
			}
			td, err := unmarshaler.UnmarshalTraces(line)
			check(err)
			out, err := marshaler.MarshalTraces(td)
			check(err)
			var batch []json.RawMessage
			check(json.Unmarshal(out, &batch))
			spans = append(spans, batch...)
		}
		check(scanner.Err())
		f.Close()
	}
	out, err := json.Marshal(spans)
	check(err)
	check(os.WriteFile(os.Args[1], out, 0o644))
}
