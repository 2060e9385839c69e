// The official TypeScript client, @durable-streams/client (the version the
// pinned conformance suite depends on), against "ssehub serve": create,
// append, close, live reads over SSE and long-poll, and a reader that
// resumes from its offset after its connection is cut. Run with
// DURABLE_STREAMS_URL=http://host:port/v1/stream node --test client.test.mjs
// (cmd/ssehub's TestDurableStreamsOfficialClient does).
import { test } from "node:test"
import assert from "node:assert/strict"
import { DurableStream, IdempotentProducer, stream } from "@durable-streams/client"

const base = process.env.DURABLE_STREAMS_URL
if (!base) throw new Error("DURABLE_STREAMS_URL is required")
const url = (name) => `${base}/${name}-${Date.now()}-${Math.random().toString(36).slice(2)}`

// follow reads a stream live from offset until it closes and returns the
// text and the number of chunks seen.
async function follow(streamUrl, live, offset = "-1") {
  const res = await stream({ url: streamUrl, offset, live })
  let text = ""
  await new Promise((resolve, reject) => {
    res.subscribeText((chunk) => {
      text += chunk.text
      if (chunk.streamClosed) resolve()
    })
    res.closed.catch(reject)
  })
  return text
}

for (const live of ["sse", "long-poll"]) {
  test(`a live ${live} reader gets appends made while it reads, then the closure`, async () => {
    const u = url(`ts-${live}`)
    const ds = await DurableStream.create({ url: u, contentType: "text/plain" })
    await ds.append("one ")
    const reading = follow(u, live)
    await ds.append("two ")
    await ds.append("three ")
    await ds.close({ body: "four" })
    assert.equal(await reading, "one two three four")
  })
}

test("a live SSE reader reconnects from its offset each time the server ends its response", async () => {
  // The server under test ends SSE responses after 1.5 s
  // (-durable-sse-duration), so these appends span several reconnections.
  const u = url("ts-reconnect")
  const ds = await DurableStream.create({ url: u, contentType: "text/plain" })
  const reading = follow(u, "sse")
  let want = ""
  for (let i = 0; i < 12; i++) {
    await ds.append(`${i};`)
    want += `${i};`
    await new Promise((r) => setTimeout(r, 300)) // lets the server's cut fall between appends
  }
  await ds.close()
  assert.equal(await reading, want)
})

test("a reader cut off resumes from its offset and gets every byte once", async () => {
  const u = url("ts-resume")
  const ds = await DurableStream.create({ url: u, contentType: "text/plain" })
  await ds.append("a")
  await ds.append("b")
  const first = await stream({ url: u, offset: "-1", live: "sse" })
  let text = ""
  let offset
  await new Promise((resolve) => {
    const stop = first.subscribeText((chunk) => {
      text += chunk.text
      offset = chunk.offset
      if (chunk.upToDate) {
        stop()
        first.cancel()
        resolve()
      }
    })
  })
  assert.equal(text, "ab")
  await ds.append("c")
  await ds.close({ body: "d" })
  text += await follow(u, "sse", offset)
  assert.equal(text, "abcd")
})

test("an idempotent producer's batches arrive once, in order, and it closes the stream", async () => {
  const u = url("ts-producer")
  const ds = await DurableStream.create({ url: u, contentType: "application/json" })
  const producer = new IdempotentProducer(ds, "producer-1", { epoch: 0 })
  for (let i = 0; i < 20; i++) producer.append(JSON.stringify({ i }))
  await producer.flush()
  await producer.close()
  const res = await stream({ url: u, offset: "-1", live: false })
  const items = await res.json()
  assert.deepEqual(items, Array.from({ length: 20 }, (_, i) => ({ i })))
  const head = await ds.head()
  assert.equal(head.streamClosed, true)
})

// sseEvents parses a text/event-stream body into {id, type, data} events
// (enough for ssehub's own encoder: "field: value" lines, data lines
// joined by a newline).
function sseEvents(text) {
  const out = []
  for (const block of text.split("\n\n")) {
    const ev = { id: "", type: "message", data: [] }
    let dispatch = false
    for (const line of block.split("\n")) {
      const i = line.indexOf(":")
      if (i <= 0) continue
      const field = line.slice(0, i)
      const value = line.slice(i + 1).replace(/^ /, "")
      if (field === "id") ev.id = value
      if (field === "event") ev.type = value
      if (field === "data") { ev.data.push(value); dispatch = true }
    }
    if (dispatch) out.push({ id: ev.id, type: ev.type, data: ev.data.join("\n") })
  }
  return out
}

test("the demo's resumable answer, followed as EventSource does, is the same answer the official client reads live at /v1/stream/answers/<id>", async (t) => {
  const demo = process.env.DEMO_URL
  if (!demo) throw new Error("DEMO_URL is required: the ssehub serve whose /sse/stream starts an answer")
  const res = await fetch(`${demo}/sse/stream`, { headers: { Accept: "text/event-stream" } })
  assert.equal(res.status, 200)
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let body = ""
  let reading = null
  while (true) {
    const { value, done } = await reader.read()
    if (done) break
    body += value
    const first = sseEvents(body.slice(0, body.lastIndexOf("\n\n") + 2))[0]
    if (first && !reading) {
      // The answer is still being typed: the client joins it live.
      const id = first.id.split("/")[0]
      reading = (async () => {
        const live = await stream({ url: `${base}/answers/${id}`, offset: "-1", live: "sse" })
        const items = []
        await new Promise((resolve, reject) => {
          live.subscribeJson((batch) => {
            items.push(...batch.items)
            if (batch.streamClosed) resolve()
          })
          live.closed.catch(reject)
        })
        return items
      })()
    }
  }
  const browser = sseEvents(body)
  assert.ok(browser.length > 3, `the answer has ${browser.length} events`)
  assert.equal(browser[0].type, "ping")
  assert.equal(browser.at(-1).type, "done")
  const items = await reading
  assert.deepEqual(
    items.map((m) => ({ type: m.type ?? "message", data: m.data })),
    browser.map((e) => ({ type: e.type, data: e.data })),
  )
})
