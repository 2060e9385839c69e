package mercure

import (
	"net/url"
	"testing"
)

func BenchmarkParsePublish(b *testing.B) {
	form, _ := url.ParseQuery("topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&topic=https%3A%2F%2Fexample.com%2Fusers%2Fkim&data=%7B%22title%22%3A%22x%22%7D&private=on&id=urn%3A1&retry=1000")
	lim := limits{maxTopics: 100, maxData: 1 << 20, maxID: DefaultMaxIDBytes, maxType: DefaultMaxTypeBytes}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (draft07{}).parsePublish(form, lim); err != nil {
			b.Fatal(err)
		}
	}
}
