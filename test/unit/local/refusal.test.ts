import { BITS_ERRORS, formatHresult } from '../../../lambda/protocol/errors';
import { internalErrorResponse, refusalResponse } from '../../../local/http/refusal';

describe('front refusals', () => {
  it.each([400, 408, 417, 431, 501])('answers %i with E_INVALIDARG error headers, context 0x5', (status) => {
    expect(refusalResponse(status)).toEqual({
      statusCode: status,
      headers: {
        'BITS-Packet-Type': 'Ack',
        'BITS-Error-Code': '0x80070057',
        'BITS-Error': '0x80070057',
        'BITS-Error-Context': '0x5',
        Pragma: 'no-cache',
      },
    });
  });

  it('answers 413 with the HRESULT of a fragment that is too large, so the client shrinks', () => {
    const { statusCode, headers } = refusalResponse(413);
    expect(statusCode).toBe(413);
    expect(headers['BITS-Error-Code']).toBe(formatHresult(BITS_ERRORS.FRAGMENT_TOO_LARGE.hresult));
    expect(headers['BITS-Error']).toBe('0x80200020');
  });

  it('answers an application fault with 500 and E_FAIL', () => {
    const { statusCode, headers } = internalErrorResponse();
    expect(statusCode).toBe(500);
    expect(headers['BITS-Error-Code']).toBe('0x80004005');
    expect(headers['BITS-Error-Context']).toBe('0x5');
  });
});
