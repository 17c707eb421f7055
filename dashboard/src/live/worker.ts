// Entry of the socket worker: the page's WebSocket lives here, off the main
// thread (see channel.ts).
import { serveLiveWorker, type WorkerPort } from './channel';

serveLiveWorker(self as unknown as WorkerPort);
