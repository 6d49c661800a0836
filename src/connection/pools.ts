import { FrameParser, type FrameParserOptions } from "../protocol/frame-parser.ts";
import { OutboundQueue } from "./outbound-queue.ts";

/**
 * Parsers and write queues are lent to a connection only while it has bytes in flight: an
 * idle connection holds neither, which is most of what makes it cheap. One pool per process
 * serves every connection, since only the few that are mid-read or mid-flush need one.
 */
const MAX_POOLED = 256;
const parsers: FrameParser[] = [];
const queues: OutboundQueue[] = [];

export function borrowParser(options: FrameParserOptions, rsv1Extension: boolean): FrameParser {
  const parser = parsers.pop() ?? new FrameParser(options);
  parser.configure(options, rsv1Extension);
  return parser;
}

/**
 * For an idle parser (between frames, nothing buffered), or one whose connection stops
 * parsing: that one is reset, or the pool would keep its unfinished message's memory.
 */
export function returnParser(parser: FrameParser): void {
  parser.clearOutputs();
  if (!parser.idle) parser.reset();
  if (parsers.length < MAX_POOLED) parsers.push(parser);
}

export function borrowQueue(): OutboundQueue {
  return queues.pop() ?? new OutboundQueue();
}

/** Only for an empty queue. */
export function returnQueue(queue: OutboundQueue): void {
  if (queues.length < MAX_POOLED) queues.push(queue);
}
