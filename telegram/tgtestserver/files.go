package tgtestserver

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"image"
	_ "image/gif" // photo dimensions of GIF uploads
	"image/jpeg"
	_ "image/png" // photo dimensions of PNG uploads
	"net/http"
	"strings"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

var (
	errFilePartsInvalid   = tgerr.New(400, "FILE_PARTS_INVALID")
	errFilePartMissing    = tgerr.New(400, "FILE_PART_0_MISSING")
	errFileIDInvalid      = tgerr.New(400, "FILE_ID_INVALID")
	errLocationInvalid    = tgerr.New(400, "LOCATION_INVALID")
	errOffsetInvalid      = tgerr.New(400, "OFFSET_INVALID")
	errLimitInvalid       = tgerr.New(400, "LIMIT_INVALID")
	errMediaInvalid       = tgerr.New(400, "MEDIA_INVALID")
	errMD5Mismatch        = tgerr.New(400, "MD5_CHECKSUM_INVALID")
	errPhotoInvalidDims   = tgerr.New(400, "PHOTO_INVALID_DIMENSIONS")
	errFilePartTooBig     = tgerr.New(400, "FILE_PART_TOO_BIG")
	maxPartSize           = 512 * 1024
	maxDownloadChunk      = 1024 * 1024
	thumbnailSide         = 320
	fileReference         = []byte{0x01, 0x70, 0x61, 0x73, 0x73}
	documentThumbMaxBytes = 1 << 20
)

// uploadKey names an upload in progress: files are per auth key, as on
// Telegram.
type uploadKey struct {
	keyID  [8]byte
	fileID int64
}

type upload struct {
	parts map[int][]byte
	total int // from saveBigFilePart; 0 for small files
}

// photoFile is a stored photo: every size is its own JPEG.
type photoFile struct {
	id         int64
	accessHash int64
	date       int
	sizes      []photoSize
}

type photoSize struct {
	typ  string
	w, h int
	data []byte
}

// docFile is a stored document with its attributes.
type docFile struct {
	id         int64
	accessHash int64
	date       int
	mime       string
	data       []byte
	attrs      []tg.DocumentAttributeClass
	thumb      *photoSize
}

// media is what a message carries.
type media struct {
	photo   *photoFile
	doc     *docFile
	spoiler bool
	geo     *geoPoint
	venue   *venue
	contact *contactCard
	poll    *pollData
	webpage *webPage
	live    *liveGeo
}

type geoPoint struct {
	lat, long float64
	accuracy  int
}

type venue struct {
	geo            geoPoint
	title, address string
}

type contactCard struct {
	phone, first, last, vcard string
	userID                    int64
}

func (g geoPoint) tg() *tg.GeoPoint {
	return &tg.GeoPoint{Lat: g.lat, Long: g.long, AccessHash: 1, AccuracyRadius: g.accuracy}
}

func inputGeo(in tg.InputGeoPointClass) (geoPoint, error) {
	p, ok := in.(*tg.InputGeoPoint)
	if !ok || p.Lat < -90 || p.Lat > 90 || p.Long < -180 || p.Long > 180 {
		return geoPoint{}, tgerr.New(400, "GEO_POINT_INVALID")
	}
	return geoPoint{lat: p.Lat, long: p.Long, accuracy: p.AccuracyRadius}, nil
}

func (st *store) renderPhoto(p *photoFile) tg.PhotoClass {
	out := &tg.Photo{
		ID:            p.id,
		AccessHash:    p.accessHash,
		FileReference: fileReference,
		Date:          p.date,
		DCID:          st.srv.opts.DC,
	}
	for _, s := range p.sizes {
		out.Sizes = append(out.Sizes, &tg.PhotoSize{Type: s.typ, W: s.w, H: s.h, Size: len(s.data)})
	}
	return out
}

func (st *store) renderDocument(d *docFile) tg.DocumentClass {
	out := &tg.Document{
		ID:            d.id,
		AccessHash:    d.accessHash,
		FileReference: fileReference,
		Date:          d.date,
		MimeType:      d.mime,
		Size:          int64(len(d.data)),
		DCID:          st.srv.opts.DC,
		Attributes:    cloneAttributes(d.attrs),
	}
	if d.thumb != nil {
		out.Thumbs = []tg.PhotoSizeClass{&tg.PhotoSize{Type: d.thumb.typ, W: d.thumb.w, H: d.thumb.h, Size: len(d.thumb.data)}}
	}
	return out
}

func (st *store) renderMedia(m *media) tg.MessageMediaClass { return st.renderMediaFor(0, m) }

// renderMediaFor is m as viewer sees it (polls show the viewer's votes).
func (st *store) renderMediaFor(viewer int64, m *media) tg.MessageMediaClass {
	switch {
	case m.poll != nil:
		return m.poll.render(viewer)
	case m.photo != nil:
		return &tg.MessageMediaPhoto{Photo: st.renderPhoto(m.photo), Spoiler: m.spoiler}
	case m.geo != nil:
		return &tg.MessageMediaGeo{Geo: m.geo.tg()}
	case m.live != nil:
		return m.live.render()
	case m.webpage != nil:
		return &tg.MessageMediaWebPage{Webpage: m.webpage.render(st)}
	case m.venue != nil:
		return &tg.MessageMediaVenue{Geo: m.venue.geo.tg(), Title: m.venue.title, Address: m.venue.address, Provider: "foursquare"}
	case m.contact != nil:
		return &tg.MessageMediaContact{PhoneNumber: m.contact.phone, FirstName: m.contact.first, LastName: m.contact.last, Vcard: m.contact.vcard, UserID: m.contact.userID}
	case m.doc != nil:
		out := &tg.MessageMediaDocument{Document: st.renderDocument(m.doc), Spoiler: m.spoiler}
		for _, a := range m.doc.attrs {
			switch a := a.(type) {
			case *tg.DocumentAttributeVideo:
				out.Video = true
				out.Round = a.RoundMessage
			case *tg.DocumentAttributeAudio:
				out.Voice = a.Voice
			}
		}
		return out
	}
	return &tg.MessageMediaEmpty{}
}

// newPhoto stores an image as a photo with an "x" size (the original,
// re-encoded as JPEG when it is not one) and an "m" thumbnail when larger.
func (st *store) newPhoto(data []byte) (*photoFile, error) {
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode image: %w", err)
	}
	b := img.Bounds()
	if b.Dx() == 0 || b.Dy() == 0 {
		return nil, errPhotoInvalidDims
	}
	full := data
	if format != "jpeg" {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			return nil, fmt.Errorf("encode JPEG: %w", err)
		}
		full = buf.Bytes()
	}
	p := &photoFile{id: randomInt64(), accessHash: randomInt64(), date: st.srv.unix()}
	if thumb, ok := thumbnail(img, thumbnailSide); ok {
		p.sizes = append(p.sizes, thumb)
	}
	p.sizes = append(p.sizes, photoSize{typ: "x", w: b.Dx(), h: b.Dy(), data: full})
	st.photos[p.id] = p
	return p, nil
}

// thumbnail scales img so its longer side is side pixels, as a JPEG "m"
// size; false when the image is already that small.
func thumbnail(img image.Image, side int) (photoSize, bool) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= side && h <= side {
		return photoSize{}, false
	}
	if w >= h {
		h = max(1, h*side/w)
		w = side
	} else {
		w = max(1, w*side/h)
		h = side
	}
	// Nearest-neighbour scaling is enough for a preview.
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dst.Set(x, y, img.At(b.Min.X+x*b.Dx()/w, b.Min.Y+y*b.Dy()/h))
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 80}); err != nil {
		return photoSize{}, false
	}
	return photoSize{typ: "m", w: w, h: h, data: buf.Bytes()}, true
}

func (st *store) newDocument(data []byte, mime string, attrs []tg.DocumentAttributeClass, thumb []byte) *docFile {
	if mime == "" {
		mime = http.DetectContentType(data)
		if i := strings.IndexByte(mime, ';'); i >= 0 {
			mime = mime[:i]
		}
	}
	d := &docFile{id: randomInt64(), accessHash: randomInt64(), date: st.srv.unix(), mime: mime, data: data, attrs: attrs}
	if len(thumb) > 0 && len(thumb) <= documentThumbMaxBytes {
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(thumb)); err == nil {
			d.thumb = &photoSize{typ: "m", w: cfg.Width, h: cfg.Height, data: thumb}
		}
	}
	st.docs[d.id] = d
	return d
}

// assemble joins the parts of an uploaded file; the store must be locked.
func (st *store) assemble(keyID [8]byte, in tg.InputFileClass) ([]byte, string, error) {
	var (
		id     int64
		parts  int
		name   string
		sumHex string
	)
	switch f := in.(type) {
	case *tg.InputFile:
		id, parts, name, sumHex = f.ID, f.Parts, f.Name, f.MD5Checksum
	case *tg.InputFileBig:
		id, parts, name = f.ID, f.Parts, f.Name
	default:
		return nil, "", errFileIDInvalid
	}
	up := st.uploads[uploadKey{keyID: keyID, fileID: id}]
	if up == nil {
		return nil, "", errFilePartMissing
	}
	if parts <= 0 || (up.total != 0 && up.total != parts) {
		return nil, "", errFilePartsInvalid
	}
	var buf bytes.Buffer
	for i := 0; i < parts; i++ {
		p, ok := up.parts[i]
		if !ok {
			return nil, "", tgerr.New(400, fmt.Sprintf("FILE_PART_%d_MISSING", i))
		}
		buf.Write(p)
	}
	if sumHex != "" {
		sum := md5.Sum(buf.Bytes())
		if !strings.EqualFold(hex.EncodeToString(sum[:]), sumHex) {
			return nil, "", errMD5Mismatch
		}
	}
	return buf.Bytes(), name, nil
}

// inputMedia turns what a client sends into stored media.
func (st *store) inputMedia(viewer int64, keyID [8]byte, in tg.InputMediaClass) (*media, error) {
	switch m := in.(type) {
	case *tg.InputMediaUploadedPhoto:
		data, _, err := st.assemble(keyID, m.File)
		if err != nil {
			return nil, err
		}
		p, err := st.newPhoto(data)
		if err != nil {
			return nil, tgerr.New(400, "IMAGE_PROCESS_FAILED")
		}
		return &media{photo: p, spoiler: m.Spoiler}, nil
	case *tg.InputMediaUploadedDocument:
		data, name, err := st.assemble(keyID, m.File)
		if err != nil {
			return nil, err
		}
		var thumb []byte
		if m.Thumb != nil {
			if thumb, _, err = st.assemble(keyID, m.Thumb); err != nil {
				return nil, err
			}
		}
		attrs := m.Attributes
		hasName := false
		for _, a := range attrs {
			if _, ok := a.(*tg.DocumentAttributeFilename); ok {
				hasName = true
			}
		}
		if !hasName && name != "" {
			attrs = append(attrs, &tg.DocumentAttributeFilename{FileName: name})
		}
		return &media{doc: st.newDocument(data, m.MimeType, attrs, thumb), spoiler: m.Spoiler}, nil
	case *tg.InputMediaPoll:
		return inputPoll(m)
	case *tg.InputMediaGeoPoint:
		g, err := inputGeo(m.GeoPoint)
		if err != nil {
			return nil, err
		}
		return &media{geo: &g}, nil
	case *tg.InputMediaGeoLive:
		if m.Stopped {
			return nil, errMediaInvalid // only an edit can stop a live location
		}
		if p, _ := m.GetPeriod(); p <= 0 {
			return nil, tgerr.New(400, "PERIOD_INVALID")
		}
		return inputLive(m)
	case *tg.InputMediaVenue:
		g, err := inputGeo(m.GeoPoint)
		if err != nil {
			return nil, err
		}
		return &media{venue: &venue{geo: g, title: m.Title, address: m.Address}}, nil
	case *tg.InputMediaContact:
		c := &contactCard{phone: m.PhoneNumber, first: m.FirstName, last: m.LastName, vcard: m.Vcard}
		if a := st.byPhone[normalizePhone(m.PhoneNumber)]; a != nil {
			c.userID = a.id
		}
		return &media{contact: c}, nil
	case *tg.InputMediaPhoto:
		p, ok := m.ID.(*tg.InputPhoto)
		if !ok {
			return nil, errMediaInvalid
		}
		ph := st.photos[p.ID]
		if ph == nil || ph.accessHash != p.AccessHash {
			return nil, tgerr.New(400, "PHOTO_INVALID")
		}
		return &media{photo: ph, spoiler: m.Spoiler}, nil
	case *tg.InputMediaDocument:
		d, ok := m.ID.(*tg.InputDocument)
		if !ok {
			return nil, errMediaInvalid
		}
		doc := st.docs[d.ID]
		if doc == nil || doc.accessHash != d.AccessHash {
			return nil, tgerr.New(400, "DOCUMENT_INVALID")
		}
		return &media{doc: doc, spoiler: m.Spoiler}, nil
	}
	return nil, errMediaInvalid
}

// fileBytes finds the bytes a download location names.
func (st *store) fileBytes(viewer int64, loc tg.InputFileLocationClass) ([]byte, tg.StorageFileTypeClass, error) {
	pickSize := func(p *photoFile, typ string) *photoSize {
		for i := range p.sizes {
			if p.sizes[i].typ == typ {
				return &p.sizes[i]
			}
		}
		return nil
	}
	switch l := loc.(type) {
	case *tg.InputPhotoFileLocation:
		p := st.photos[l.ID]
		if p == nil || p.accessHash != l.AccessHash {
			return nil, nil, errLocationInvalid
		}
		s := pickSize(p, l.ThumbSize)
		if s == nil {
			return nil, nil, errLocationInvalid
		}
		return s.data, &tg.StorageFileJpeg{}, nil
	case *tg.InputDocumentFileLocation:
		d := st.docs[l.ID]
		if d == nil || d.accessHash != l.AccessHash {
			return nil, nil, errLocationInvalid
		}
		if l.ThumbSize != "" {
			if d.thumb == nil || d.thumb.typ != l.ThumbSize {
				return nil, nil, errLocationInvalid
			}
			return d.thumb.data, &tg.StorageFileJpeg{}, nil
		}
		return d.data, &tg.StorageFileUnknown{}, nil
	case *tg.InputPeerPhotoFileLocation:
		pk, err := st.inputPeer(viewer, l.Peer)
		if err != nil {
			return nil, nil, err
		}
		var p *photoFile
		switch pk.kind {
		case peerUser:
			p = st.users[pk.id].photo
		case peerChat:
			p = st.chats[pk.id].photo
		case peerChannel:
			p = st.channels[pk.id].photo
		}
		if p == nil || p.id != l.PhotoID {
			return nil, nil, errLocationInvalid
		}
		want := "m"
		if l.Big {
			want = "x"
		}
		s := pickSize(p, want)
		if s == nil {
			s = &p.sizes[len(p.sizes)-1]
		}
		return s.data, &tg.StorageFileJpeg{}, nil
	}
	return nil, nil, errLocationInvalid
}

func (s *Server) registerFiles(d *tg.ServerDispatcher) {
	st := s.state
	save := func(ctx context.Context, fileID int64, part, total int, data []byte) error {
		if len(data) > maxPartSize {
			return errFilePartTooBig
		}
		if part < 0 || (total > 0 && part >= total) {
			return errFilePartsInvalid
		}
		return st.do(func(t *tx) error {
			k := uploadKey{keyID: callerFrom(ctx).keyID, fileID: fileID}
			up := st.uploads[k]
			if up == nil {
				up = &upload{parts: map[int][]byte{}}
				st.uploads[k] = up
			}
			if total > 0 {
				up.total = total
			}
			up.parts[part] = append([]byte(nil), data...)
			return nil
		})
	}
	d.OnUploadSaveFilePart(func(ctx context.Context, req *tg.UploadSaveFilePartRequest) (bool, error) {
		return true, save(ctx, req.FileID, req.FilePart, 0, req.Bytes)
	})
	d.OnUploadSaveBigFilePart(func(ctx context.Context, req *tg.UploadSaveBigFilePartRequest) (bool, error) {
		return true, save(ctx, req.FileID, req.FilePart, req.FileTotalParts, req.Bytes)
	})
	d.OnUploadGetFile(func(ctx context.Context, req *tg.UploadGetFileRequest) (tg.UploadFileClass, error) {
		if req.Offset < 0 || req.Offset%1024 != 0 {
			return nil, errOffsetInvalid
		}
		if req.Limit <= 0 || req.Limit > maxDownloadChunk || (!req.Precise && req.Limit%1024 != 0) {
			return nil, errLimitInvalid
		}
		var out *tg.UploadFile
		err := st.do(func(t *tx) error {
			data, typ, err := st.fileBytes(callerFrom(ctx).userID, req.Location)
			if err != nil {
				return err
			}
			chunk := []byte{}
			if req.Offset < int64(len(data)) {
				end := min(req.Offset+int64(req.Limit), int64(len(data)))
				chunk = append(chunk, data[req.Offset:end]...)
			}
			out = &tg.UploadFile{Type: typ, Mtime: t.now, Bytes: chunk}
			return nil
		})
		return out, err
	})
}
