//go:build ignore

// Writes Django-shaped traces the way the Collector's file exporter does (pdata marshalers,
// newline-terminated JSON; 4-byte big-endian length-prefixed protobuf).
package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func tid(s string) pcommon.TraceID { var t pcommon.TraceID; b, _ := hex.DecodeString(s); copy(t[:], b); return t }
func sid(s string) pcommon.SpanID  { var t pcommon.SpanID; b, _ := hex.DecodeString(s); copy(t[:], b); return t }

func build(traceHex string, stable bool, base time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "recruit")
	rs.Resource().Attributes().PutStr("telemetry.sdk.language", "python")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("opentelemetry.instrumentation.django")
	server := ss.Spans().AppendEmpty()
	server.SetTraceID(tid(traceHex))
	server.SetSpanID(sid(traceHex[:8] + "00000001"))
	server.SetName("GET dashboard/")
	server.SetKind(ptrace.SpanKindServer)
	server.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
	server.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(10 * time.Millisecond)))
	if stable {
		server.Attributes().PutStr("http.request.method", "GET")
		server.Attributes().PutInt("http.response.status_code", 500)
	} else {
		server.Attributes().PutStr("http.method", "GET")
		server.Attributes().PutInt("http.status_code", 500)
	}
	server.Attributes().PutStr("http.route", "dashboard/")
	server.Status().SetCode(ptrace.StatusCodeError)
	ss2 := rs.ScopeSpans().AppendEmpty()
	ss2.Scope().SetName("opentelemetry.instrumentation.psycopg2")
	for i := 0; i < 4; i++ {
		q := ss2.Spans().AppendEmpty()
		q.SetTraceID(tid(traceHex))
		q.SetSpanID(sid(fmt.Sprintf("%s%08x", traceHex[:8], i+2)))
		q.SetParentSpanID(server.SpanID())
		q.SetName("SELECT")
		q.SetKind(ptrace.SpanKindClient)
		q.SetStartTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i+1) * time.Millisecond)))
		q.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i+1)*time.Millisecond + 500*time.Microsecond)))
		sql := fmt.Sprintf(`SELECT "recruit_candidate"."id" FROM "recruit_candidate" WHERE "recruit_candidate"."id" = %d LIMIT 21`, i+1)
		if stable {
			q.Attributes().PutStr("db.system.name", "postgresql")
			q.Attributes().PutStr("db.query.text", sql)
			q.Attributes().PutStr("server.address", "db")
		} else {
			q.Attributes().PutStr("db.system", "postgresql")
			q.Attributes().PutStr("db.statement", sql)
			q.Attributes().PutStr("net.peer.name", "db")
		}
	}
	out := ss2.Spans().AppendEmpty()
	out.SetTraceID(tid(traceHex))
	out.SetSpanID(sid(traceHex[:8] + "000000ff"))
	out.SetParentSpanID(server.SpanID())
	out.SetName("POST")
	out.SetKind(ptrace.SpanKindClient)
	out.SetStartTimestamp(pcommon.NewTimestampFromTime(base.Add(6 * time.Millisecond)))
	out.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(9 * time.Millisecond)))
	out.Attributes().PutStr("http.method", "POST")
	out.Attributes().PutStr("http.url", "https://hooks.slack.com:443/services/T000")
	return td
}

func main() {
	base := time.Unix(1700000000, 123456789).UTC()
	traces := []ptrace.Traces{
		build("5b8efff798038103d269b633813fc60c", false, base),
		build("0af7651916cd43dd8448eb211c80319c", true, base.Add(time.Second)),
	}
	jf, _ := os.Create(os.Args[1] + ".jsonl")
	pf, _ := os.Create(os.Args[1] + ".binpb")
	for _, td := range traces {
		j, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
		if err != nil { panic(err) }
		jf.Write(j)
		jf.Write([]byte("\n"))
		p, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil { panic(err) }
		size := make([]byte, 4)
		binary.BigEndian.PutUint32(size, uint32(len(p)))
		pf.Write(size)
		pf.Write(p)
	}
	jf.Close()
	pf.Close()
}
