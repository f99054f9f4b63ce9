import { MemorySessionStore } from '../helpers/memory-session-store';
import { MemoryUploadStore } from '../helpers/memory-upload-store';
import { describeReplyStores } from './reply-store.contract';
import { describeSessionStore } from './session-store.contract';
import { describeUploadStore } from './upload-store.contract';

// The fakes the handler tests run on must pass the same contract as the real adapters.
describeSessionStore('in-memory fake', () => new MemorySessionStore());
describeUploadStore('in-memory fake', () => new MemoryUploadStore());
describeReplyStores(
  'in-memory fakes',
  () => new MemorySessionStore(),
  () => new MemoryUploadStore(),
);
