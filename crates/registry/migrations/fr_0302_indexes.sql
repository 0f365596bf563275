-- One index per filterable attribute (identifiers have their UNIQUE indexes), composites for
-- the hot questions (small farms in a place, farmers growing a crop or keeping an animal),
-- and the links of parcels, crops and animals to their farmer and parcel.
CREATE INDEX IF NOT EXISTS farmer_region ON farmer (region_code, land_size);
CREATE INDEX IF NOT EXISTS farmer_district ON farmer (district_code, land_size);
CREATE INDEX IF NOT EXISTS farmer_location ON farmer (location_code, land_size);
CREATE INDEX IF NOT EXISTS farmer_land ON farmer (land_size);
CREATE INDEX IF NOT EXISTS farmer_type ON farmer (farm_type);
CREATE INDEX IF NOT EXISTS farmer_household ON farmer (household_id);
CREATE INDEX IF NOT EXISTS farmer_birth ON farmer (birth_date);
CREATE INDEX IF NOT EXISTS farmer_registered ON farmer (registration_date);
CREATE INDEX IF NOT EXISTS farmer_surname ON farmer (surname, given_name);
CREATE INDEX IF NOT EXISTS parcel_farmer ON parcel (fid, land_size);
CREATE INDEX IF NOT EXISTS parcel_uin ON parcel (uin);
CREATE INDEX IF NOT EXISTS parcel_region ON parcel (region_code, land_size);
CREATE INDEX IF NOT EXISTS parcel_district ON parcel (district_code, land_size);
CREATE INDEX IF NOT EXISTS parcel_location ON parcel (location_code, land_size);
CREATE INDEX IF NOT EXISTS parcel_size ON parcel (land_size);
CREATE INDEX IF NOT EXISTS parcel_tenure ON parcel (land_tenure);
CREATE INDEX IF NOT EXISTS crop_farmer ON crop (fid, crop);
CREATE INDEX IF NOT EXISTS crop_parcel ON crop (lpi, crop);
CREATE INDEX IF NOT EXISTS crop_name ON crop (crop);
CREATE INDEX IF NOT EXISTS crop_group ON crop (crop_type);
CREATE INDEX IF NOT EXISTS livestock_farmer ON livestock (fid, animal);
CREATE INDEX IF NOT EXISTS livestock_animal ON livestock (animal);
